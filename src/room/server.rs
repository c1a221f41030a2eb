//! The room's server: axum on a one-thread tokio runtime of its own, serving the phone page and one
//! WebSocket per phone. Every connection must say hello with the token or the code within seconds, is
//! rate-limited (a flood is cut off, not queued), and is closed on the first malformed message; the stage
//! never waits on any of it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::hall::{Hall, Joined};
use super::protocol::{FromPhone, MAX_MESSAGE_BYTES, ToPhone};

/// The phone page, its script and its style (served by the stage itself; nothing else is).
const PAGE_HTML: &str = include_str!("../../web/room/index.html");
const PAGE_JS: &str = include_str!("../../web/room/room.js");
const PAGE_CSS: &str = include_str!("../../web/room/room.css");

/// A phone has this long to say hello.
pub const HELLO_WITHIN: Duration = Duration::from_secs(5);
/// Messages a phone may send each second, sustained (the page sends at most 30 moves a second).
pub const MESSAGES_PER_S: f64 = 60.0;
/// Messages a phone may send at once above that rate before it is cut off.
pub const BURST: f64 = 120.0;
/// A phone silent this long (no message, no answer to pings) is taken for gone.
pub const SILENT_FOR: Duration = Duration::from_secs(15);
/// How long a goodbye waits for the phone to close its side.
const CLOSE_WITHIN: Duration = Duration::from_millis(500);
/// How often the server pings a phone.
const PING_EVERY: Duration = Duration::from_secs(4);

/// The room's server, running until [`RoomServer::close`] (or drop).
pub struct RoomServer {
    /// Where it listens.
    pub address: SocketAddr,
    hall: Arc<Hall>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Told when the listener is gone (a mutex only to make the server shareable with the stage's systems).
    listening_ended: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl RoomServer {
    /// Starts serving `hall` on `bind` (port 0 picks a free one).
    pub fn open(hall: Arc<Hall>, bind: SocketAddr) -> std::io::Result<RoomServer> {
        let listener = std::net::TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (no_longer_listening, listening_ended) = std::sync::mpsc::sync_channel::<()>(1);
        let served = Served { hall: hall.clone(), sockets: Arc::new(AtomicUsize::new(0)) };
        // The thread is not joined: it ends by itself once the room is closed and its phones are gone.
        std::thread::Builder::new().name("proxemix-room".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let sockets = served.sockets.clone();
                let service = router(served).into_make_service_with_connect_info::<SocketAddr>();
                let _ = axum::serve(listener, service)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
                let _ = no_longer_listening.send(());
                // The phones still connected have been told goodbye; each closes its socket on its own
                // (a close frame and its answer). The slow ones are dropped with the runtime.
                let deadline = tokio::time::Instant::now() + CLOSE_WITHIN * 2;
                while sockets.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        })?;
        Ok(RoomServer { address, hall, shutdown: Some(shutdown), listening_ended: listening_ended.into() })
    }

    /// The room it serves.
    pub fn hall(&self) -> &Arc<Hall> {
        &self.hall
    }

    /// Tells every phone the room is closing and stops listening (waiting only for that, a few milliseconds);
    /// the connections say goodbye and close on the server's own thread, which then ends.
    pub fn close(&mut self) {
        self.hall.close();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
            if let Ok(ended) = self.listening_ended.lock() {
                let _ = ended.recv_timeout(Duration::from_secs(1));
            }
        }
    }
}

impl Drop for RoomServer {
    fn drop(&mut self) {
        self.close();
    }
}

#[derive(Clone)]
struct Served {
    hall: Arc<Hall>,
    /// WebSocket connections open now, joined or not.
    sockets: Arc<AtomicUsize>,
}

fn router(served: Served) -> Router {
    Router::new()
        .route("/", get(|| async { page(PAGE_HTML, "text/html; charset=utf-8") }))
        .route("/room.js", get(|| async { page(PAGE_JS, "text/javascript; charset=utf-8") }))
        .route("/room.css", get(|| async { page(PAGE_CSS, "text/css; charset=utf-8") }))
        .route("/ws", get(upgrade))
        .with_state(served)
}

/// A file of the page, with headers that keep it to itself: no other origin's scripts, no referrer (the
/// link's token stays in the fragment anyway), not cached.
fn page(body: &'static str, kind: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn upgrade(
    ws: WebSocketUpgrade,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    State(served): State<Served>,
) -> Response {
    // Sockets that have not joined count too: a spray of connections is refused before it costs anything.
    let limit = served.hall.config().max_participants * 2 + 16;
    if served.sockets.fetch_add(1, Ordering::SeqCst) >= limit {
        served.sockets.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "the room is full").into_response();
    }
    ws.max_message_size(MAX_MESSAGE_BYTES).max_frame_size(MAX_MESSAGE_BYTES).on_upgrade(move |socket| async move {
        phone(socket, from.ip(), served.hall.clone()).await;
        served.sockets.fetch_sub(1, Ordering::SeqCst);
    })
}

/// A token bucket: `rate` a second, `burst` at once.
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        self.level = (self.level + now.duration_since(self.at).as_secs_f64() * MESSAGES_PER_S).min(BURST);
        self.at = now;
        if self.level >= 1.0 {
            self.level -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn say(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(Utf8Bytes::from(text))).await.is_ok()
}

/// Says why, then closes as WebSocket asks: a close frame, and a short wait for the phone's own (so that the
/// goodbye is read before the connection goes, and not lost to a reset).
async fn goodbye(mut socket: WebSocket, reason: &str) {
    let _ = say(&mut socket, ToPhone::Bye { reason }.text()).await;
    if socket.send(Message::Close(None)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WITHIN, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// One phone's connection, from hello to goodbye.
async fn phone(mut socket: WebSocket, from: IpAddr, hall: Arc<Hall>) {
    let hello = match tokio::time::timeout(HELLO_WITHIN, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => FromPhone::parse(&text),
        _ => return goodbye(socket, "say hello first").await,
    };
    let joined = match hello {
        Ok(hello @ FromPhone::Hello { .. }) => hall.join(from, &hello, Instant::now()),
        Ok(_) => return goodbye(socket, "say hello first").await,
        Err(malformed) => return goodbye(socket, &malformed.0).await,
    };
    let joined = match joined {
        Ok(joined) => joined,
        Err(refusal) => return goodbye(socket, refusal.text()).await,
    };
    if !say(&mut socket, ToPhone::Welcome { you: joined.who, resume: &joined.resume }.text()).await {
        return hall.leave(&joined, Instant::now());
    }
    let why = converse(&mut socket, &hall, &joined).await;
    hall.leave(&joined, Instant::now());
    if let Some(why) = why {
        goodbye(socket, &why).await;
    }
}

/// Answers the phone and keeps it up to date until it goes, or is to be closed (then returns why).
async fn converse(socket: &mut WebSocket, hall: &Hall, joined: &Joined) -> Option<String> {
    let mut changes = hall.subscribe();
    changes.mark_changed();
    let mut bucket = Bucket { level: BURST, at: Instant::now() };
    let mut pings = tokio::time::interval(PING_EVERY);
    let mut heard = Instant::now();
    let (mut sent_shared, mut sent_own): (Option<Arc<str>>, String) = (None, String::new());
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return None;
                }
                if let Some(why) = hall.must_close(joined) {
                    return Some(why.into());
                }
                let shared = hall.shared_text();
                if sent_shared.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &shared)) {
                    if !say(socket, shared.to_string()).await {
                        return None;
                    }
                    sent_shared = Some(shared);
                }
                let own = hall.own_text(joined.who);
                if own != sent_own {
                    if !say(socket, own.clone()).await {
                        return None;
                    }
                    sent_own = own;
                }
            }
            _ = pings.tick() => {
                if heard.elapsed() > SILENT_FOR {
                    return None;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return None;
                }
            }
            message = socket.recv() => {
                heard = Instant::now();
                let text = match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        hall.cut_off(Some(joined), "sent binary data");
                        return Some("this room speaks text".into());
                    }
                    Some(Ok(Message::Text(text))) => text,
                };
                if !bucket.take(heard) {
                    hall.cut_off(Some(joined), "flooded the room");
                    return Some("too many messages: cut off".into());
                }
                match FromPhone::parse(&text).and_then(|m| hall.handle(joined, m)) {
                    Ok(None) => {}
                    Ok(Some(notice)) => {
                        if !say(socket, ToPhone::Notice { text: &notice }.text()).await {
                            return None;
                        }
                    }
                    Err(malformed) => {
                        hall.cut_off(Some(joined), &malformed.0);
                        return Some(malformed.0);
                    }
                }
            }
        }
    }
}
