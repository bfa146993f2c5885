//! The WebSocket push stream: envelopes arrive without polling, are
//! acknowledged on the same connection, and unacknowledged ones come again
//! on the next connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_wire::FrameBody;
use fuin_wire::relay::{Acknowledgement, MailboxBatch};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(address: &str, token: &str) -> Socket {
    let mut request = format!("ws://{address}/v1/mailbox/stream")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Reads pushed batches until `count` records arrived.
async fn receive(socket: &mut Socket, count: usize) -> Vec<fuin_wire::DeliveredRecord<'static>> {
    let mut records = Vec::new();
    while records.len() < count {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("no push within 10 s")
            .unwrap()
            .unwrap();
        let Message::Binary(bytes) = message else {
            panic!("unexpected message {message:?}");
        };
        let batch = MailboxBatch::from_bytes(&bytes).unwrap().into_owned();
        records.extend(batch.records.into_vec());
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_are_pushed_acknowledged_on_the_stream_and_pushed_again_if_not() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(&dir.path().join("relay.db"));
    let address = relay.address.clone();
    let (alice, bob) = tokio::task::spawn_blocking({
        let address = address.clone();
        move || {
            (
                TestDevice::register(&address, "alice", 1, 1),
                TestDevice::register(&address, "bob", 1, 2),
            )
        }
    })
    .await
    .unwrap();

    let mut socket = connect(&address, &bob.token).await;
    let to = bob.address.clone();
    let alice = std::sync::Arc::new(alice);
    let send = |body: &'static [u8]| {
        let (alice, address, to) = (alice.clone(), address.clone(), to.clone());
        tokio::task::spawn_blocking(move || alice.send(&address, &to, body).unwrap().0)
    };
    assert_eq!(send(b"first").await.unwrap(), 200);
    assert_eq!(send(b"second").await.unwrap(), 200);
    let records = receive(&mut socket, 2).await;
    let bodies: Vec<_> = records
        .iter()
        .map(|r| r.envelope.sealed_body.as_bytes().to_vec())
        .collect();
    assert_eq!(bodies, vec![b"first".to_vec(), b"second".to_vec()]);

    // Acknowledge only the first; the second comes again on a new connection.
    let ack = Acknowledgement {
        message_ids: vec![records[0].server_message_id].into(),
    };
    socket
        .send(Message::Binary(ack.to_bytes().unwrap().into()))
        .await
        .unwrap();
    assert_eq!(send(b"third").await.unwrap(), 200);
    let third = receive(&mut socket, 1).await;
    assert_eq!(third[0].envelope.sealed_body.as_bytes(), b"third");
    socket.close(None).await.unwrap();

    let mut again = connect(&address, &bob.token).await;
    let records = receive(&mut again, 2).await;
    let bodies: Vec<_> = records
        .iter()
        .map(|r| r.envelope.sealed_body.as_bytes().to_vec())
        .collect();
    assert_eq!(bodies, vec![b"second".to_vec(), b"third".to_vec()]);
    again.close(None).await.unwrap();
    relay.stop("TERM");
}

#[tokio::test]
async fn the_stream_needs_a_valid_token() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(&dir.path().join("relay.db"));
    let request = format!("ws://{}/v1/mailbox/stream", relay.address)
        .into_client_request()
        .unwrap();
    let refused = tokio_tungstenite::connect_async(request).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("expected an HTTP refusal, got {refused:?}");
    };
    assert_eq!(response.status(), 401);
    relay.stop("TERM");
}
