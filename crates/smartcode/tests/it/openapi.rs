//! The OpenAPI document served at /openapi.json describes exactly the routes the broker serves.

use std::collections::BTreeSet;

use crate::harness::{Auth, TestBroker};

#[tokio::test]
async fn the_openapi_document_and_the_router_agree() {
    let broker = TestBroker::start().await;
    let document = broker.get("/openapi.json", Auth::None).await.expect(200).body;
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(operation) = item.get(method) {
                documented.insert(format!("{method} {path}"));
                assert!(
                    operation["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents its responses"
                );
                assert!(
                    operation["operationId"].is_string(),
                    "{method} {path} has an operationId"
                );
            }
        }
    }
    let served: BTreeSet<String> = smartcode_server::route_table()
        .iter()
        .map(|(method, path)| smartcode_server::describe_route(method, path))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.json: {undocumented:?}"
    );
    assert!(unserved.is_empty(), "in openapi.json but not served: {unserved:?}");

    // Every documented operation is routed: no route-level 404 or 405 from the server.
    for entry in &documented {
        let (method, path) = entry.split_once(' ').unwrap();
        let concrete = path
            .replace("{id}", "c_0000000000000000")
            .replace("{public_code}", "P-00000-00000");
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let reply = broker.call(method, &concrete, Auth::None, None).await;
        assert_ne!(reply.status, 405, "{entry} is not routed");
        assert!(
            !(reply.status == 404 && reply.body["detail"] == "endpoint not found"),
            "{entry} is not routed"
        );
    }
}
