//! The OpenAPI 3.1 description of the JSON API, served at
//! `/api/v1/openapi.json`. Its paths are exactly `api::ROUTES` (a test
//! checks both ways, and that each documented route answers).

use serde_json::{json, Value};

fn param(name: &str, place: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name, "in": place, "required": place == "path",
        "description": description, "schema": schema,
    })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn hex64() -> Value {
    json!({ "type": "string", "pattern": "^[0-9a-fA-F]{64}$" })
}

/// A GET operation answering an object, or a problem.
fn get(summary: &str, parameters: Vec<Value>) -> Value {
    json!({ "get": {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": { "description": "the answer", "content": { "application/json": { "schema": { "type": "object" } } } },
            "default": { "description": "an error (RFC 9457 problem details; the HTTP status of the gRPC code the same error gets)",
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } },
        },
    }})
}

pub fn document() -> Value {
    let groups = json!({ "type": "string", "enum": ["government", "private-sector", "civil-society", "technical-community", "academia", "intergovernmental"] });
    let regions = json!({ "type": "string", "enum": ["african", "asia-pacific", "eastern-european", "grulac", "weog", "global"] });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Accord JSON read API",
            "version": "1",
            "description": "The registry and log of an Accord server as JSON: the same answers as its gRPC API (accord.v1.RegistryService). Identifiers and hashes are lowercase hex, leaves and proofs base64. Everything here can be checked with the log key: see SPEC.md.",
        },
        "paths": {
            "/api/v1/checkpoint": get("The checkpoint to trust (cosigned by the witness quorum when the log has a policy) and the latest one the log signed", vec![]),
            "/api/v1/entries/{index}": get("One entry: its leaf bytes, leaf hash and inclusion proof in the checkpoint served (included)",
                vec![param("index", "path", "entry index (decimal)", json!({ "type": "integer", "minimum": 0 }))]),
            "/api/v1/entries/stream": { "get": {
                "summary": "New entries as Server-Sent Events (the counterpart of gRPC WatchEntries): replay from `from`, then live. Events: `entry` (id = index; data: index, leaf base64, leaf_hash hex) and, last, `error` (problem details naming where to resume). Reconnecting with Last-Event-ID resumes after it.",
                "parameters": [
                    param("from", "query", "first index (default 0)", json!({ "type": "integer", "minimum": 0 })),
                    param("Last-Event-ID", "header", "resume after this index (set by EventSource)", json!({ "type": "integer", "minimum": 0 })),
                ],
                "responses": {
                    "200": { "description": "the event stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                    "default": { "description": "an error (RFC 9457 problem details)",
                        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } },
                },
            }},
            "/api/v1/commitments": get("The registered commitments and their versions", vec![]),
            "/api/v1/commitments/{id}/signatories": get("A commitment's signatories: verified first, then in order of first endorsement; follow next_page_token until it is null (a page may be short, even empty)", vec![
                param("id", "path", "commitment id", string()),
                param("group", "query", "stakeholder group", groups),
                param("region", "query", "UN regional group", regions),
                param("country", "query", "ISO 3166-1 alpha-2 code", string()),
                param("status", "query", "current (default), withdrawn or all", json!({ "type": "string", "enum": ["current", "withdrawn", "all"] })),
                param("name", "query", "case-insensitive part of the name", string()),
                param("verified_only", "query", "only organizations the operator verified", json!({ "type": "boolean" })),
                param("page_size", "query", "1–1000 (default 100)", json!({ "type": "integer", "minimum": 1, "maximum": 1000 })),
                param("page_token", "query", "next_page_token of the previous page", string()),
            ]),
            "/api/v1/organizations/{id}": get("An organization's record, standings, history and verification, by its id or any of its keys (current or former)",
                vec![param("id", "path", "organization id or public key (64 hex digits)", hex64())]),
            "/api/v1/registry-proof": get("A registry proof (SPEC.md §8.2, the file `accord verify --registry-proof` checks) of an organization's standing on a commitment, or of its record", vec![
                param("organization_id", "query", "the organization (or give public_key)", hex64()),
                param("public_key", "query", "a current or former key (or give organization_id)", hex64()),
                param("commitment", "query", "the commitment (absent: the organization's record)", string()),
            ]),
            "/api/v1/openapi.json": get("This document", vec![]),
        },
        "components": { "schemas": { "Problem": {
            "type": "object",
            "properties": {
                "type": string(), "title": string(),
                "status": { "type": "integer" }, "detail": string(),
            },
        }}},
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_exactly_the_routes() {
        let doc = super::document();
        let mut documented: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut routes = super::super::api::ROUTES.to_vec();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
