//! Certificate failures are permanent: object_store retries every connection error for the
//! whole retry window (3 minutes by default), which turns a wrong CA bundle or a self-signed
//! endpoint into a silent hang. This connector wraps object_store's own HTTP client and
//! reclassifies TLS certificate errors as not retryable.

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};

/// The default connector, with certificate errors made permanent.
#[derive(Debug, Clone, Copy, Default)]
pub struct PermanentTlsErrors;

impl HttpConnector for PermanentTlsErrors {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Reclassifying(inner)))
    }
}

#[derive(Debug)]
struct Reclassifying(HttpClient);

#[async_trait::async_trait]
impl HttpService for Reclassifying {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.0.execute(request).await.map_err(|e| {
            if is_certificate_error(&e) {
                HttpError::new(HttpErrorKind::Unknown, CertificateError(error_chain(&e)))
            } else {
                e
            }
        })
    }
}

/// A TLS certificate that was refused, with the chain of causes as text.
#[derive(Debug, thiserror::Error)]
#[error("TLS certificate refused (not retried; check the endpoint's certificate or SSL_CERT_FILE): {0}")]
struct CertificateError(String);

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Whether any cause in the chain is a certificate verification failure.
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let text = error_chain(e).to_ascii_lowercase();
    [
        "certificate",
        "unknownissuer",
        "unknown issuer",
        "self signed",
        "self-signed",
        "badsignature",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
