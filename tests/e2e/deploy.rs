//! The container image and Kubernetes manifests, checked offline.

use threadgate_tests::python;

#[test]
fn the_deployment_renders_validates_and_is_hardened() {
    python::pytest("test_deploy.py", &[]);
}
