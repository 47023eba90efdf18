//! Connection floods (issue 13 §1): a real `accord serve` with a limit of
//! 256 descriptors, 1000 idle TCP connections from 127.0.0.1 that never
//! send a byte, and a client that must still be answered; the server's CPU
//! must stay low (no accept loop spinning), the warning must be logged, and
//! everything must be answered after the flood. Loopback only; each flood is
//! bounded (1000 connections, held ≤ 8 s).

mod common;

use accord::proto::registry_service_client::RegistryServiceClient as RegistryClient;
use common::ServeProcess;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The scenarios measure the server's CPU: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const FLOOD: usize = 1000;
const DESCRIPTORS: u64 = 256;

fn set_nofile(soft: u64, hard: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit only reads the struct.
    match unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// This test process needs ≈ 1100 descriptors for the flood: raise its
/// soft limit to the hard one; `false` if that is not enough.
fn room_for_the_flood() -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_max < 2 * FLOOD as u64 {
        eprintln!(
            "SKIPPED: this process may open only {} descriptors",
            lim.rlim_max
        );
        return false;
    }
    set_nofile(lim.rlim_max, lim.rlim_max).is_ok()
}

/// `accord serve` as if started after `ulimit -n 256`.
fn serve(data: &std::path::Path, extra: &[&str]) -> ServeProcess {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_accord"));
    cmd.arg("serve").arg("--data").arg(data);
    cmd.args(["--listen", "127.0.0.1:0"]).args(extra);
    // SAFETY: only an async-signal-safe system call between fork and exec.
    unsafe {
        cmd.pre_exec(|| set_nofile(DESCRIPTORS, DESCRIPTORS));
    }
    ServeProcess::spawn(cmd).expect("server starts")
}

/// Opens `n` connections that never send a byte (the server may close
/// some at once; they are kept anyway, as an attacker would).
fn flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
        .collect()
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a constant.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// The server's CPU use (cores) over `window`.
fn cpu_over(pid: u32, window: Duration) -> f64 {
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    (cpu_seconds(pid) - before) / window.as_secs_f64()
}

/// One GetCheckpoint from a connection bound to `from`, within `deadline`.
async fn checkpoint_from(
    server: SocketAddr,
    from: IpAddr,
    deadline: Duration,
) -> Result<(), String> {
    let connector = tower::service_fn(move |_: http::Uri| async move {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let stream = socket.connect(server).await?;
        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
    });
    let ask = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{server}"))
            .unwrap()
            .connect_with_connector(connector)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        RegistryClient::new(channel)
            .get_checkpoint(accord::proto::GetCheckpointRequest {})
            .await
            .map_err(|e| format!("GetCheckpoint: {e}"))
            .map(drop)
    };
    tokio::time::timeout(deadline, ask)
        .await
        .map_err(|_| format!("not answered within {deadline:?}"))?
}

/// Asks again and again (a fresh connection each time, as a client whose
/// connection was closed would) until answered or `deadline` passes.
async fn answered_within(server: SocketAddr, from: IpAddr, deadline: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        match checkpoint_from(server, from, left.min(Duration::from_secs(2))).await {
            Ok(()) => return started.elapsed(),
            Err(e) if started.elapsed() >= deadline => {
                panic!("no answer within {deadline:?} from {from}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn logged(server: &ServeProcess, what: &str) -> bool {
    server
        .later
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(what))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One flood: a server with `flags`, 1000 idle connections from
/// 127.0.0.1, then a client on `client` must be answered within `deadline`
/// while the flood is held; the server's CPU stays low, the cap warning is
/// logged, and the flood's own address is answered once it ends.
fn flood_scenario(flags: &[&str], client: &str, deadline: Duration) -> ServeProcess {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), flags);
    let addr: SocketAddr = server.addr.parse().unwrap();
    let held = flood(addr, FLOOD);
    let cpu = cpu_over(server.child.id(), Duration::from_secs(2));
    let rt = runtime();
    let took = rt.block_on(answered_within(addr, client.parse().unwrap(), deadline));
    eprintln!(
        "{flags:?}: flood of {} held; answered {client} in {took:?}; server CPU {cpu:.2} cores",
        held.len()
    );
    assert!(
        cpu < 0.5,
        "the server spins: {cpu:.2} cores during the flood"
    );
    assert!(
        logged(&server, "over a cap"),
        "no warning about the cap: {:?}",
        server.later.lock().unwrap()
    );
    drop(held);
    rt.block_on(answered_within(
        addr,
        "127.0.0.1".parse().unwrap(),
        Duration::from_secs(2),
    ));
    server
}

/// (a) The per-address cap on, also for loopback: a client on another
/// loopback address is answered at once during the flood.
#[test]
fn a_flood_from_one_address_leaves_room_for_others() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if room_for_the_flood() {
        flood_scenario(
            &["--connection-limit-loopback"],
            "127.0.0.2",
            Duration::from_secs(2),
        );
    }
}

/// (b) The default configuration (loopback exempt from the per-address
/// cap): the global cap holds, the flood's connections are closed after
/// 5 s without a request, and a client on the flood's own address gets in.
#[test]
fn a_client_on_the_flooding_address_gets_in_within_ten_seconds() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if room_for_the_flood() {
        let server = flood_scenario(&[], "127.0.0.1", Duration::from_secs(10));
        assert!(
            (server.lines.iter()).any(|l| l.contains("at most 192 open (descriptor limit 256)")),
            "the chosen cap is logged: {:?}",
            server.lines
        );
    }
}

/// (c) A cap set above what the descriptors allow: accepts fail with
/// EMFILE, and the accept loop backs off (low CPU, a warning, a counter)
/// and recovers when the flood's connections time out.
#[test]
fn out_of_descriptors_the_accept_loop_backs_off_and_recovers() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !room_for_the_flood() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = serve(
        dir.path(),
        &[
            "--max-connections",
            "5000",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let metrics = server.reported("metrics on").expect("metrics address");
    let addr: SocketAddr = server.addr.parse().unwrap();
    let held = flood(addr, FLOOD);
    let cpu = cpu_over(server.child.id(), Duration::from_secs(2));
    assert!(logged(&server, "accept failed"), "no accept warning");
    assert!(cpu < 0.5, "the accept loop spins: {cpu:.2} cores");
    // Out of descriptors, the flood's connections still in the kernel's
    // backlog are served in turn as the held ones time out: end the flood,
    // then everything is answered again.
    drop(held);
    let rt = runtime();
    let took = rt.block_on(answered_within(
        addr,
        "127.0.0.1".parse().unwrap(),
        Duration::from_secs(10),
    ));
    eprintln!(
        "out of descriptors: server CPU {cpu:.2} cores; answered {took:?} after the flood ended"
    );
    let text = common::http_get(&metrics, "/metrics");
    let errors: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("accord_accept_errors_total{listener=\"grpc\"} "))
        .and_then(|v| v.parse().ok())
        .expect("accept errors counted");
    assert!(errors > 0, "{text}");
    // Backing off from 10 ms to 1 s: a handful of failed calls per second,
    // not tens of thousands.
    assert!(errors < 200, "{errors} failed accepts: no back-off?");
}

/// The deadlines themselves, with short values: a connection that sends
/// nothing is closed, an idle one is closed, and a quiet WatchEntries
/// stream (a request in progress) is not.
#[test]
fn silent_and_idle_connections_are_closed_but_quiet_streams_are_not() {
    use std::io::Read;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = common::ServeProcess::start(
        &data,
        &[
            "--first-request-timeout",
            "0.5",
            "--idle-timeout",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    )
    .unwrap();
    let metrics = server.reported("metrics on").expect("metrics address");
    let addr: SocketAddr = server.addr.parse().unwrap();

    // Silent: closed after ≈ 0.5 s (EOF or reset), well before 5 s. (The
    // server's own HTTP/2 preface arrives first.)
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let mut sink = Vec::new();
    let ended = silent.read_to_end(&mut sink);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "a silent connection was not closed: {ended:?} after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut watcher = RegistryClient::connect(server.url()).await.unwrap();
        let mut stream = watcher
            .watch_entries(accord::proto::WatchEntriesRequest { start: 0 })
            .await
            .unwrap()
            .into_inner();
        // One request, then idle on another connection: it is closed.
        let mut idle = RegistryClient::connect(server.url()).await.unwrap();
        idle.get_checkpoint(accord::proto::GetCheckpointRequest {})
            .await
            .unwrap();
        // Three idle periods later the stream is still open and delivers.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let operator = accord::server::datadir::read_key(&data.join("operator.pem")).unwrap();
        let mut c = RegistryClient::connect(server.url()).await.unwrap();
        c.submit(common::with_token(
            &common::registration(&operator),
            &common::admin_token(&data),
        ))
        .await
        .unwrap();
        let entry = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("the stream delivers")
            .expect("the stream is still open")
            .expect("an entry");
        assert_eq!(entry.index, 0);
    });
    let text = common::http_get(&metrics, "/metrics");
    for series in [
        "accord_connections_timed_out_total{listener=\"grpc\",reason=\"no-request\"} ",
        "accord_connections_timed_out_total{listener=\"grpc\",reason=\"idle\"} ",
    ] {
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {text}"));
        assert!(n >= 1, "{series}{n}");
    }
}
