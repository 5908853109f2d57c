//! The client's address, for the audit log's `remote_address` and
//! `remote_port`. Listeners serve with connect info; a router driven without
//! a socket (the HTTP-tier tests) has none, and requests then carry no address.

use axum::Extension;
use axum::extract::ConnectInfo;
use std::net::SocketAddr;

/// The extractor: present when the listener recorded the peer address.
pub(crate) type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The peer address, if known.
pub(crate) fn addr(peer: Peer) -> Option<SocketAddr> {
    peer.map(|Extension(ConnectInfo(a))| a)
}
