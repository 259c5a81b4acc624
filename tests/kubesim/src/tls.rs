//! HTTPS for kubesim: a cluster CA and a serving certificate generated at start (rcgen), served
//! with rustls on the `ring` provider (as kube is built in this workspace).
//!
//! Why: client-go (kubectl, helm) only reads a kubeconfig's user credentials when the server is
//! `https://` (`clientcmd.DirectClientConfig.ClientConfig`: "only try to read the auth information
//! if we are secure"), so with RBAC on every kubectl request over plain HTTP is anonymous → 401.
//! The CA goes into the kubeconfig (`certificate-authority-data`) and into every namespace's
//! `kube-root-ca.crt` ConfigMap, as on a real cluster.
//!
//! The serving certificate is valid for `127.0.0.1`, `::1`, `localhost`, the listen address when
//! it is a specific IP, and the in-cluster names of the apiserver (`kubernetes`,
//! `kubernetes.default`, `kubernetes.default.svc`, `kubernetes.default.svc.cluster.local`). Only
//! HTTP/1.1 is offered through ALPN (kubesim does not speak HTTP/2).

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Errors generating the certificates or building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the {what}: {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("building the rustls server configuration: {0}")]
    ServerConfig(#[from] rustls::Error),
}

/// The CA and the server configuration of one kubesim.
#[derive(Clone)]
pub struct TlsMaterial {
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
    /// The cluster CA certificate, DER (what `kube::Config::root_cert` takes).
    pub ca_der: Vec<u8>,
    /// The serving certificate, PEM (for diagnostics).
    pub server_cert_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

/// The names the serving certificate covers besides the listen IP.
pub const SERVER_DNS_NAMES: &[&str] = &[
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// Generates a CA (`CN=kubesim-ca`) and a serving certificate signed by it for `listen_ip` (when
/// not unspecified), 127.0.0.1, ::1 and [`SERVER_DNS_NAMES`].
pub fn generate(listen_ip: IpAddr) -> Result<TlsMaterial, TlsError> {
    let gen_err = |what: &'static str| move |source| TlsError::Generate { what, source };
    let ca_key = KeyPair::generate().map_err(gen_err("CA key"))?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubesim-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(gen_err("CA certificate"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut ips: Vec<IpAddr> = vec![
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    ];
    if !listen_ip.is_unspecified() && !ips.contains(&listen_ip) {
        ips.push(listen_ip);
    }
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    for ip in ips {
        params.subject_alt_names.push(SanType::IpAddress(ip));
    }
    for n in SERVER_DNS_NAMES {
        let name = (*n)
            .try_into()
            .map_err(gen_err("serving certificate name"))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(gen_err("serving key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(gen_err("serving certificate"))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![cert.der().clone(), ca_cert.der().clone()];
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
    );
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        server_cert_pem: cert.pem(),
        server_config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_and_server_certificate() {
        let m = generate(IpAddr::from([127, 0, 0, 1])).expect("generate");
        assert!(m.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(m.server_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(m.ca_pem, m.server_cert_pem);
        assert_eq!(m.server_config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        // Two generations never share a CA.
        let other = generate(IpAddr::from([0, 0, 0, 0])).expect("generate");
        assert_ne!(m.ca_der, other.ca_der);
    }
}
