//! Rendering tests: objects as JSON values and a fixed "now", no cluster.

use super::cluster_info::*;
use super::describe::*;
use super::documents::*;
use super::fields::*;
use super::table::*;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

mod cases {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn pod(name: &str, ready: bool, waiting: Option<&str>, restarts: i64) -> Value {
        let state = match waiting {
            Some(r) => json!({ "waiting": { "reason": r } }),
            None => json!({ "running": { "startedAt": "2026-01-01T11:00:00Z" } }),
        };
        json!({
            "metadata": { "name": name, "namespace": "demo", "creationTimestamp": "2026-01-01T11:55:00Z" },
            "spec": { "nodeName": "kubernel", "containers": [{ "name": "web", "image": "nginx" }] },
            "status": {
                "phase": if waiting.is_some() { "Pending" } else { "Running" },
                "podIP": "10.0.0.7",
                "containerStatuses": [{ "name": "web", "ready": ready, "restartCount": restarts, "state": state,
                    "lastState": if restarts > 0 { json!({ "terminated": { "finishedAt": "2026-01-01T11:58:00Z" } }) } else { json!({}) } }]
            }
        })
    }

    #[test]
    fn durations_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(42 * 60), "42m");
        assert_eq!(human_duration(5 * 3600 + 180), "5h3m");
        assert_eq!(human_duration(20 * 3600), "20h");
        assert_eq!(human_duration(3 * 86400 + 4 * 3600), "3d4h");
        assert_eq!(human_duration(40 * 86400), "40d");
    }

    #[test]
    fn pod_table_text_and_html() {
        let pods = vec![pod("web-1", true, None, 0), pod("web-2-long-name", false, Some("ImagePullBackOff"), 3)];
        let t = table("pods", &pods, false, false, now());
        let text = t.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME              READY   STATUS             RESTARTS     AGE");
        assert_eq!(lines[1], "web-1             1/1     Running            0            5m");
        assert_eq!(lines[2], "web-2-long-name   0/1     ImagePullBackOff   3 (2m ago)   5m");
        let html = t.to_html();
        assert!(html.contains("<th style=\"text-align:left\">RESTARTS</th>"));
        assert!(html.contains("<td style=\"text-align:left\">ImagePullBackOff</td>"));
        let wide = table("pods", &pods, true, true, now());
        assert_eq!(wide.headers, vec!["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]);
        assert_eq!(wide.rows[0][0], "demo");
        assert_eq!(wide.rows[0][6], "10.0.0.7");
        assert_eq!(wide.rows[0][7], "kubernel");
    }

    #[test]
    fn deployment_service_node_namespace_columns() {
        let dep = json!({ "metadata": { "name": "web", "creationTimestamp": "2026-01-01T10:00:00Z" },
            "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web" } },
                      "template": { "spec": { "containers": [{ "name": "nginx", "image": "nginx" }] } } },
            "status": { "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2 } });
        let t = table("deployments", &[dep.clone()], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
        assert_eq!(t.rows[0], vec!["web", "2/3", "3", "2", "120m"]);
        let t = table("deployments", &[dep], true, false, now());
        assert_eq!(&t.rows[0][5..], &["nginx", "nginx", "app=web"]);

        let svc = json!({ "metadata": { "name": "web", "creationTimestamp": "2026-01-01T11:59:30Z" },
            "spec": { "type": "NodePort", "clusterIP": "10.96.0.12",
                      "ports": [{ "port": 80, "nodePort": 30080, "protocol": "TCP" }, { "port": 443 }] } });
        let t = table("services", &[svc], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
        assert_eq!(t.rows[0], vec!["web", "NodePort", "10.96.0.12", "<none>", "80:30080/TCP,443/TCP", "30s"]);

        let node = json!({ "metadata": { "name": "kubernel", "creationTimestamp": "2026-01-01T11:00:00Z",
                "labels": { "node-role.kubernetes.io/control-plane": "" } },
            "status": { "conditions": [{ "type": "Ready", "status": "True" }], "nodeInfo": { "kubeletVersion": "v1.36.3" } } });
        let t = table("nodes", &[node], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
        assert_eq!(t.rows[0], vec!["kubernel", "Ready", "control-plane", "60m", "v1.36.3"]);

        let ns = json!({ "metadata": { "name": "default", "creationTimestamp": "2025-12-01T12:00:00Z" }, "status": { "phase": "Active" } });
        let t = table("namespaces", &[ns], false, false, now());
        assert_eq!(t.rows[0], vec!["default", "Active", "31d"]);

        let other = json!({ "metadata": { "name": "x" } });
        let t = table("widgets", &[other], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "AGE"]);
        assert_eq!(t.rows[0], vec!["x", "<unknown>"]);
    }

    #[test]
    fn event_columns() {
        let e = json!({ "metadata": { "name": "web.1" }, "type": "Warning", "reason": "BackOff",
            "lastTimestamp": "2026-01-01T11:59:00Z", "message": "Back-off pulling image\n",
            "involvedObject": { "kind": "Pod", "name": "web-1" } });
        let t = table("events", &[e], false, false, now());
        assert_eq!(t.headers, vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
        assert_eq!(t.rows[0], vec!["60s", "Warning", "BackOff", "pod/web-1", "Back-off pulling image"]);
    }

    #[test]
    fn pod_status_reasons() {
        let mut p = pod("a", false, None, 0);
        p["status"]["containerStatuses"][0]["state"] = json!({ "terminated": { "exitCode": 1, "reason": "Error" } });
        assert_eq!(pod_status(&p), "Error");
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T11:59:00Z");
        assert_eq!(pod_status(&p), "Terminating");
        let mut p = pod("b", false, None, 0);
        p["spec"]["initContainers"] = json!([{ "name": "init" }]);
        p["status"]["initContainerStatuses"] = json!([{ "name": "init", "state": { "running": {} } }]);
        assert_eq!(pod_status(&p), "Init:0/1");
    }

    #[test]
    fn output_formats() {
        let mut p = pod("a", true, None, 0);
        p["metadata"]["managedFields"] = json!([{ "manager": "kubernel" }]);
        let doc = as_document(vec![p.clone()], true);
        assert!(doc["metadata"].get("managedFields").is_none());
        let y = yaml_bundle(&doc);
        assert!(y.text().unwrap().contains("name: a"), "{}", y.text().unwrap());
        let list = as_document(vec![p.clone(), p.clone()], false);
        assert_eq!(list["kind"], "List");
        let j = json_bundle(&list);
        assert!(j.text().unwrap().contains("\"kind\": \"List\""));
        assert_eq!(names_bundle("Pod", "", &[p.clone()]).text().unwrap(), "pod/a\n");
        assert_eq!(names_bundle("Deployment", "apps", &[p]).text().unwrap(), "deployment.apps/a\n");
    }

    #[test]
    fn describe_a_pod() {
        let mut p = pod("web-1", true, None, 0);
        p["metadata"]["labels"] = json!({ "app": "web" });
        p["status"]["conditions"] = json!([{ "type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T11:56:00Z" }]);
        let events = vec![json!({ "type": "Normal", "reason": "Pulled", "message": "Image pulled",
            "lastTimestamp": "2026-01-01T11:56:00Z", "source": { "component": "kubelet" } })];
        let d = describe("Pod", &p, &events, now());
        let text = d.to_text();
        assert!(text.contains("Name:"), "{text}");
        assert!(text.contains("app=web"), "{text}");
        assert!(text.contains("CONTAINER"), "{text}");
        assert!(text.contains("Conditions:"), "{text}");
        assert!(text.contains("Pulled"), "{text}");
        assert!(text.contains("4m"), "{text}");
        let html = d.to_html();
        assert!(html.contains("<h5>Events</h5>"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn html_is_escaped() {
        let o = json!({ "metadata": { "name": "<b>x</b>" } });
        let html = table("widgets", &[o], false, false, now()).to_html();
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    }

    #[test]
    fn cluster_summary() {
        let node = json!({ "metadata": { "name": "kubernel", "creationTimestamp": "2026-01-01T11:00:00Z" },
            "status": { "capacity": { "cpu": "2", "memory": "4000Mi", "pods": "110" },
                        "conditions": [{ "type": "Ready", "status": "True" }], "nodeInfo": { "kubeletVersion": "v1.36.3" } } });
        let info = ClusterInfo {
            server: "https://10.0.0.1:6443".into(),
            version: "v1.36.3".into(),
            context: Some("kubernel".into()),
            user: None,
            namespace: "default".into(),
            nodes: vec![node],
            groups: vec![("apps".into(), vec!["v1".into()]), ("".into(), vec!["v1".into()]), ("autoscaling".into(), vec!["v2".into(), "v1".into()])],
        };
        let b = cluster_bundle(&info, now());
        let text = b.text().unwrap();
        assert!(text.contains("Server:    https://10.0.0.1:6443"), "{text}");
        assert!(text.contains("kubernel   Ready    <none>   v1.36.3   2     4000Mi   110    60m"), "{text}");
        assert!(text.contains("autoscaling   v2                  v1"), "{text}");
        assert!(text.contains("(core)"), "{text}");
        assert!(b.data["text/html"].as_str().unwrap().contains("<h5>Nodes (1)</h5>"));
    }

    #[test]
    fn server_tables_as_kubectl_prints_them() {
        let table = json!({
            "kind": "Table",
            "columnDefinitions": [
                {"name": "Name", "priority": 0}, {"name": "Status", "priority": 0},
                {"name": "Completions", "priority": 0}, {"name": "Duration", "priority": 0},
                {"name": "Age", "priority": 0}, {"name": "Containers", "priority": 1}],
            "rows": [
                {"cells": ["pi", "Complete", "1/1", "5s", "10s", "pi"], "object": {"metadata": {"name": "pi", "namespace": "a"}}},
                {"cells": ["other", "Running", "0/1", null, "3s", "x"], "object": {"metadata": {"name": "other", "namespace": "a"}}}]
        });
        let t = from_server(&table, false, false, |o| o["metadata"]["name"] != "other");
        assert_eq!(t.headers, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
        assert_eq!(t.rows, [["pi", "Complete", "1/1", "5s", "10s"]]);
        let wide = from_server(&table, true, true, |_| true);
        assert_eq!(wide.headers.first().map(String::as_str), Some("NAMESPACE"));
        assert_eq!(wide.headers.last().map(String::as_str), Some("CONTAINERS"));
        assert_eq!(wide.rows[1][4], "<none>");
    }

    #[test]
    fn secrets_show_the_size_of_their_values() {
        // "s3cr3t-passw0rd!!" is 17 bytes; its base64 is 24 characters.
        let secret = json!({"kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque",
            "data": {"password": "czNjcjN0LXBhc3N3MHJkISE="}});
        let text = describe("Secret", &secret, &[], now()).to_text();
        assert!(text.contains("17 bytes"), "{text}");
        assert!(!text.contains("czNjcjN0"), "the value itself is not shown: {text}");
    }
}
