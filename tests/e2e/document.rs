//! The committed OpenAPI document, checked as client generators read it.

use threadgate_tests::python;

#[actix_web::test]
async fn the_openapi_document_is_valid_for_generators() {
    tokio::task::spawn_blocking(|| python::pytest("test_openapi_document.py", &[]))
        .await
        .unwrap();
}
