//! Limits that protect a server from slow, idle, greedy or flooding peers.

use std::time::Duration;

/// Abuse limits of a server; every field has a sane default ([`Limits::default`]).
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole Noise handshake must complete within this (default 10 s).
    pub handshake_timeout: Duration,
    /// A connection with no traffic for this long is closed (default 5 min; clients
    /// send a keep-alive every 30 s).
    pub idle_timeout: Duration,
    /// Once a frame has started, its remaining bytes must arrive within this
    /// (slow-loris protection; default 10 s).
    pub frame_timeout: Duration,
    /// Connections at most (default 16,384). A new one past it closes the oldest
    /// connection still in its handshake, or is closed at once when every connection
    /// is past its Hello.
    pub max_connections: usize,
    /// Connections from one IP address at most (default 256; IPv6 addresses are counted
    /// by their /64 prefix, IPv4-mapped ones as IPv4). A new one past it closes
    /// the oldest connection of that address still in its handshake, or is closed at
    /// once.
    pub max_connections_per_address: usize,
    /// Connections that have not yet completed the handshake and Hello, at most
    /// (default 256): unauthenticated sockets cannot take every slot; past it the
    /// oldest one is closed, and each must finish within
    /// [`Limits::handshake_timeout`].
    pub max_unauthenticated: usize,
    /// Simultaneous sessions of one user, across their devices (default 16: every one
    /// of [`Limits::max_devices_per_user`] devices at once, with room to spare): one
    /// user cannot take every slot; the oldest session is closed to make room for a
    /// new one (the holder of a key always gets in).
    pub max_sessions_per_user: usize,
    /// Devices of one user, their first included and revoked ones not (default 10).
    pub max_devices_per_user: usize,
    /// Sustained requests per second per connection (default 1,000).
    pub requests_per_second: u32,
    /// Requests a connection may send in a burst above the rate (default 2,000).
    pub request_burst: u32,
    /// Messages waiting to be written to one connection; a reader slower than this is
    /// disconnected and never stalls others (default 4,096).
    pub outbound_queue: usize,
    /// Bytes waiting to be written to one connection (replies and live events); a peer
    /// that lets more pile up, for example by not reading its replies, is disconnected
    /// (default 8 MiB).
    pub outbound_bytes: usize,
    /// A write to a peer that cannot complete for this long ends the session (default
    /// 30 s): a peer that stops reading cannot pin the server's memory.
    pub write_timeout: Duration,
    /// Direct deliveries waiting for one recipient, at most (default 1,000).
    pub direct_queue_count: usize,
    /// Bytes of direct deliveries waiting for one recipient, at most (default 64 MiB).
    pub direct_queue_bytes: usize,
    /// Direct deliveries from one sender waiting for one recipient, at most (default
    /// 50): one sender cannot fill someone's whole queue.
    pub direct_per_sender: usize,
    /// Direct deliveries one user may send per minute (default 120, bursts of 60).
    pub directs_per_minute: u32,
    /// Key packages one user may fetch per minute (default 120, bursts of 100: a room
    /// of a hundred can be created at once).
    pub key_package_fetches_per_minute: u32,
    /// One-use key packages of one user handed out per hour (default 30); past it the
    /// last-resort package is handed out, so nobody can drain someone's packages.
    pub one_use_packages_per_hour: u32,
    /// One-use key packages of one user handed to one requester per hour (default 3:
    /// an inviter needs one per invitation); past it that requester gets the
    /// last-resort package, so one name cannot take a user's share of the hour.
    pub one_use_packages_per_requester: u32,
    /// Pending invitations of one user, at most (default 200). Inviters who share no
    /// room with the user may hold half of them between them: strangers cannot take
    /// the places of people the user knows.
    pub max_pending_invitations: usize,
    /// Pending invitations of one user from one inviter who shares no room with them,
    /// at most (default 10): a throwaway name holds few places.
    pub invitations_per_stranger: usize,
    /// An invitation not accepted or declined within this is withdrawn, with its
    /// queued Welcome (default 7 days; checked every minute). Inviting again does not
    /// make it younger.
    pub invitation_lifetime: Duration,
    /// New names one address (an IPv6 /64) may register per hour, on all nodes
    /// together (default 20; 0: no limit). A name registered with a one-time token
    /// is not counted.
    pub registrations_per_address_per_hour: u32,
    /// Payload bytes one user may have stored in rooms, all rooms together (default
    /// 1 GiB). Past it their messages are refused (`QuotaExceeded`); group changes are
    /// still stored, so that the group keeps working. Stored messages are kept, so
    /// this is what a user may post over the server's lifetime.
    pub max_stored_bytes_per_user: u64,
    /// Rooms one user may create (default 1,000).
    pub max_rooms_per_user: usize,
    /// The largest file one may send, bytes before sealing (default 100 MiB).
    pub max_file_size: u64,
    /// Bytes of files (as stored, sealed) one user may have on the server at once,
    /// uploads under way included (default 1 GiB). Files deleted by retention no
    /// longer count.
    pub max_file_bytes_per_user: u64,
    /// File bytes one user may upload per second, on all nodes together (default
    /// 128 MiB/s, bursts of two seconds' worth).
    pub upload_bytes_per_second: u64,
    /// A file is deleted this long after its upload began (default 30 days), and an
    /// upload not complete within a day (or within this, if shorter) is deleted;
    /// so is a file whose room has no member left. Checked every minute.
    pub file_retention: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(10),
            max_connections: 16_384,
            max_connections_per_address: 256,
            max_unauthenticated: 256,
            max_sessions_per_user: 16,
            max_devices_per_user: 10,
            requests_per_second: 1_000,
            request_burst: 2_000,
            outbound_queue: 4_096,
            outbound_bytes: 8 << 20,
            write_timeout: Duration::from_secs(30),
            direct_queue_count: 1_000,
            direct_queue_bytes: 64 << 20,
            direct_per_sender: 50,
            directs_per_minute: 120,
            key_package_fetches_per_minute: 120,
            one_use_packages_per_hour: 30,
            one_use_packages_per_requester: 3,
            max_pending_invitations: 200,
            invitations_per_stranger: 10,
            invitation_lifetime: Duration::from_secs(7 * 24 * 3600),
            registrations_per_address_per_hour: 20,
            max_stored_bytes_per_user: 1 << 30,
            max_rooms_per_user: 1_000,
            max_file_size: 100 << 20,
            max_file_bytes_per_user: 1 << 30,
            upload_bytes_per_second: 128 << 20,
            file_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}
