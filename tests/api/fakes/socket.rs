//! Slack's Socket Mode WebSocket: hello, then envelopes, recording each ack.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::Message;

/// A Socket Mode server: says hello, sends `envelopes` on the first connection,
/// and records every frame the bot sends back.
pub async fn fake_socket(envelopes: Vec<Value>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let acks: Arc<Mutex<Vec<Value>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "ws://{}/link/?ticket=fake-ticket&app_id=A0OURAPP",
        listener.local_addr().unwrap()
    );
    let recorded = acks.clone();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                continue;
            };
            let to_send = if first { envelopes.clone() } else { Vec::new() };
            first = false;
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let hello = json!({"type": "hello", "num_connections": 1,
                    "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0OURAPP"}});
                ws.send(Message::text(hello.to_string())).await.unwrap();
                for e in to_send {
                    ws.send(Message::text(e.to_string())).await.unwrap();
                }
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg
                        && let Ok(v) = serde_json::from_str::<Value>(&t)
                    {
                        recorded.lock().unwrap().push(v);
                    }
                }
            });
        }
    });
    (url, acks)
}
