//! How a server reaches PostgreSQL: TLS as libpq's `sslmode` says, and the
//! password from a file rather than the URL (a URL is visible in `ps`).
//!
//! The driver understands `sslmode` `disable`, `prefer` and `require` only;
//! libpq also has `verify-ca` and `verify-full`, and verifies the server's
//! certificate under `prefer`/`require` too when given a root CA file. We
//! take `sslmode` and `sslrootcert` out of the URL and apply libpq's rules
//! with rustls (ring: no C++). Without `sslmode` a URL means `prefer`.

use crate::storage::StorageError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error as TlsError, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What the URL does not say: `storage.ca_file` and `storage.password_file`.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Root certificates (PEM) the database's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// A file holding the password (its first line), for a URL without one.
    pub password_file: Option<PathBuf>,
}

fn bad(why: String) -> StorageError {
    StorageError::Postgres(format!("storage URL: {why}"))
}

/// libpq's TLS modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The driver's configuration and TLS connector for `url` with `opts`.
pub fn configure(
    url: &str,
    opts: &ConnectOptions,
) -> Result<(postgres::Config, MakeRustlsConnect), StorageError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root, mut passfile, mut rest) = (None, None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_owned()),
            Some(("sslrootcert", v)) => root = Some(PathBuf::from(v)),
            Some(("passfile", v)) => passfile = Some(PathBuf::from(v)),
            _ => rest.push(pair),
        }
    }
    let mode = match mode.as_deref().unwrap_or("prefer") {
        "disable" => Mode::Disable,
        "allow" | "prefer" => Mode::Prefer,
        "require" => Mode::Require,
        "verify-ca" => Mode::VerifyCa,
        "verify-full" => Mode::VerifyFull,
        other => {
            return Err(bad(format!(
            "sslmode={other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
        )))
        }
    };
    let url = match rest.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", rest.join("&")),
    };
    let mut config: postgres::Config = url.parse().map_err(|e| bad(format!("{e}")))?;
    config.ssl_mode(match mode {
        Mode::Disable => postgres::config::SslMode::Disable,
        Mode::Prefer => postgres::config::SslMode::Prefer,
        _ => postgres::config::SslMode::Require,
    });
    if config.get_password().is_none() {
        if let Some(p) = password(&config, opts, passfile)? {
            config.password(p);
        }
    }
    let root = opts.ca_file.clone().or(root);
    let tls = tls(mode, root.as_deref())?;
    Ok((config, MakeRustlsConnect::new(tls)))
}

/// The password for a URL without one: the password file if given, else
/// libpq's password file (`passfile=`, `PGPASSFILE`, or `~/.pgpass`).
fn password(
    config: &postgres::Config,
    opts: &ConnectOptions,
    passfile: Option<PathBuf>,
) -> Result<Option<String>, StorageError> {
    if let Some(path) = &opts.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("password file {}: {e}", path.display())))?;
        return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
    }
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass"));
    let path = passfile.or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from));
    let Some(path) = path.or(home.filter(|h| h.exists())) else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None); // as libpq: an unreadable password file is ignored
    };
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or("").to_owned();
    let db = config.get_dbname().unwrap_or(&user).to_owned();
    Ok(pgpass_lookup(&text, [&host, &port, &db, &user]))
}

/// The password of the first line of a libpq password file whose
/// `host:port:database:user` match (`*` matches anything; `\:` and `\\`
/// escape).
pub fn pgpass_lookup(text: &str, want: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let fields = split_escaped(line);
            let [host, port, db, user, pass] = <[String; 5]>::try_from(fields).ok()?;
            let matches = [host, port, db, user]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w);
            matches.then_some(pass)
        })
}

fn split_escaped(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut chars) = (Vec::new(), String::new(), line.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn tls(mode: Mode, root: Option<&Path>) -> Result<rustls::ClientConfig, StorageError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(format!("CA file {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| bad(format!("CA file {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("CA file {}: {e}", path.display())))?;
            }
        }
        // As libpq: verify-ca checks the chain only, which against the
        // system's public roots would let any certificate of any domain
        // through. It needs the operator's own CA.
        None if mode == Mode::VerifyCa => {
            return Err(bad(
                "sslmode=verify-ca needs a root certificate file (--storage-ca, storage.ca_file or sslrootcert=); use verify-full to check against the system's roots".into(),
            ))
        }
        None if mode == Mode::VerifyFull => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        None => {}
    }
    // libpq: a root certificate makes prefer/require verify it (as verify-ca).
    let verify = match (mode, root.is_some()) {
        (Mode::VerifyFull, _) => Some(true),
        (Mode::VerifyCa, _) | (Mode::Prefer | Mode::Require, true) => Some(false),
        _ => None,
    };
    let config = match verify {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
        Some(check_name) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(format!("TLS roots: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Chain { webpki, check_name }))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// `verify-ca` (chain only) and `verify-full` (chain and host name).
#[derive(Debug)]
struct Chain {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Chain {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self
            .webpki
            .verify_server_cert(end, intermediates, name, ocsp, now)
        {
            Err(TlsError::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.webpki.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encrypted, not
/// authenticated (libpq's meaning; say `verify-full` to authenticate).
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_as_libpq_reads_them() {
        let text = "# comment\ndb.example:5432:accord:accord:s3cr\\:et\n*:*:*:other:any\n";
        let want = ["db.example", "5432", "accord", "accord"];
        assert_eq!(pgpass_lookup(text, want), Some("s3cr:et".into()));
        let other = ["h", "1", "d", "other"];
        assert_eq!(pgpass_lookup(text, other), Some("any".into()));
        assert_eq!(pgpass_lookup(text, ["h", "1", "d", "nobody"]), None);
    }

    #[test]
    fn sslmode_and_files_leave_the_url() {
        let opts = ConnectOptions::default();
        let (c, _) = configure(
            "postgres://u@h/db?sslmode=verify-full&application_name=x",
            &opts,
        )
        .unwrap();
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(c.get_application_name(), Some("x"));
        let (c, _) = configure("postgres://u@h/db", &opts).unwrap();
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Prefer);
        let err = configure("postgres://u@h/db?sslmode=sometimes", &opts)
            .err()
            .unwrap();
        assert!(err.to_string().contains("sslmode=\"sometimes\""), "{err}");
        let err = configure("postgres://u@h/db?sslmode=verify-ca", &opts)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("needs a root certificate"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let opts = ConnectOptions {
            password_file: Some(file),
            ..ConnectOptions::default()
        };
        let (c, _) = configure("postgres://u@h/db?sslmode=disable", &opts).unwrap();
        assert_eq!(c.get_password(), Some(&b"from-file"[..]));
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Disable);
    }
}
