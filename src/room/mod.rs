//! The room: phones join the stage over the local network to hold stems, move them, vote, say where they
//! hear a hidden body and pin notes to the song (Bevy-free; the stage's side is `app::room`).
//!
//! [`protocol`] (the messages, parsed strictly) ← [`hall`] (who holds what, votes, rounds, what the phones
//! asked for) ← [`server`] (axum on its own thread: the phone page and one WebSocket per phone).

pub mod hall;
pub mod protocol;
pub mod server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub use hall::{Hall, HallConfig, HallView, RoomEvent, StageView, StemView};
pub use server::RoomServer;

/// The port the room listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7878;

/// Where to open the room: an address or an interface's name, and a port.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomPlace {
    /// "lan" (the first network interface that is up and not loopback), an interface's name ("wlan0"),
    /// or an address ("127.0.0.1", "::1").
    pub interface: String,
    /// The port (0 picks a free one).
    pub port: u16,
    /// Participants at once.
    pub max_participants: usize,
}

impl Default for RoomPlace {
    fn default() -> Self {
        RoomPlace { interface: "lan".into(), port: DEFAULT_PORT, max_participants: hall::DEFAULT_MAX_PARTICIPANTS }
    }
}

impl RoomPlace {
    /// The address to listen on, or why there is none.
    pub fn address(&self) -> Result<IpAddr, String> {
        if let Ok(ip) = self.interface.parse::<IpAddr>() {
            return Ok(ip);
        }
        let interfaces = if_addrs::get_if_addrs().map_err(|e| format!("cannot list the network interfaces: {e}"))?;
        let found = if self.interface == "lan" {
            // IPv4 first: it is what a phone on the same Wi-Fi reaches most surely.
            let lan = |v4: bool| interfaces.iter().find(|i| !i.is_loopback() && i.ip().is_ipv4() == v4);
            lan(true).or_else(|| lan(false))
        } else {
            interfaces.iter().find(|i| i.name == self.interface)
        };
        match found {
            Some(interface) => Ok(interface.ip()),
            None if self.interface == "lan" => Err("no network interface but loopback is up: join from this \
                                                   machine, or connect it to the network the phones are on"
                .into()),
            None => {
                let names: Vec<_> = interfaces.iter().map(|i| i.name.as_str()).collect();
                Err(format!("no interface named \"{}\" (there are: {})", self.interface, names.join(", ")))
            }
        }
    }
}

/// An open room: the hall, its server, and the link a phone opens.
pub struct OpenRoom {
    /// The server (closing it drops every participant).
    pub server: RoomServer,
    /// The link with the token, as the QR code carries it.
    pub link: String,
    /// The page's address without the token (to type, with the code).
    pub address: String,
}

impl OpenRoom {
    /// Opens a room at `place`; where "lan" finds no network, it opens on loopback and says so in `warning`.
    pub fn open(place: &RoomPlace) -> Result<(OpenRoom, Option<String>), String> {
        let (ip, warning) = match place.address() {
            Ok(ip) => (ip, None),
            Err(why) if place.interface == "lan" => (IpAddr::V4(Ipv4Addr::LOCALHOST), Some(why)),
            Err(why) => return Err(why),
        };
        let config = HallConfig { max_participants: place.max_participants, ..HallConfig::fresh() };
        let token = config.token.clone();
        let hall = Hall::new(config);
        let server = RoomServer::open(hall, SocketAddr::new(ip, place.port))
            .map_err(|e| format!("cannot listen on {}: {e}", SocketAddr::new(ip, place.port)))?;
        let address = format!("http://{}/", server.address);
        let link = format!("{address}#t={token}");
        Ok((OpenRoom { server, link, address }, warning))
    }

    /// The room's state.
    pub fn hall(&self) -> &std::sync::Arc<Hall> {
        self.server.hall()
    }

    /// The QR code of the link: its side in modules, and each module dark or not, row by row.
    pub fn qr_modules(&self) -> (usize, Vec<bool>) {
        match qrcode::QrCode::new(self.link.as_bytes()) {
            Ok(code) => {
                let width = code.width();
                (width, code.to_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect())
            }
            Err(_) => (0, Vec::new()),
        }
    }
}
