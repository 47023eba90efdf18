#!/usr/bin/env python3
"""A third-party gRPC client (Python grpcio) against a running Accord server,
knowing nothing of accord/v1/accord.proto: it asks the health service, lists services
through server reflection (v1alpha, what grpcio-reflection speaks), builds
the SubmitRequest type from the reflected descriptors and submits the signed
endorsement it is given on stdin as protobuf JSON.

Usage: grpc_client.py HOST:PORT < request.json   (run by tests/python_grpc.rs)
Prints one JSON object: what it saw. Exits non-zero on any failure.
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

target = sys.argv[1]
request_json = json.load(sys.stdin)
channel = grpc.insecure_channel(target)
grpc.channel_ready_future(channel).result(timeout=10)

health = health_pb2_grpc.HealthStub(channel)
statuses = {
    name or "(server)": health_pb2.HealthCheckResponse.ServingStatus.Name(
        health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
    )
    for name in ["", "accord.v1.RegistryService"]
}

# Reflection v1 (what buf curl and grpcurl use): grpcio ships only the
# v1alpha client, but the two versions share their wire format.
v1 = channel.stream_stream(
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
    response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
)
listed = next(v1(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
services_v1 = sorted(s.name for s in listed.list_services_response.service)

reflection = ProtoReflectionDescriptorDatabase(channel)
services = sorted(reflection.get_services())
pool = descriptor_pool.DescriptorPool(reflection)
registry = pool.FindServiceByName("accord.v1.RegistryService")
submit = registry.FindMethodByName("Submit")
Request = message_factory.GetMessageClass(submit.input_type)
Response = message_factory.GetMessageClass(submit.output_type)

request = json_format.ParseDict(request_json, Request())
call = channel.unary_unary(
    "/accord.v1.RegistryService/Submit",
    request_serializer=Request.SerializeToString,
    response_deserializer=Response.FromString,
)
answer = call(request, timeout=10)
print(json.dumps({
    "health": statuses,
    "services": services,
    "services_v1": services_v1,
    "methods": [m.name for m in registry.methods],
    "index": answer.index,
    "checkpoint": answer.checkpoint,
}))
