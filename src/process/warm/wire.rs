//! The socket between the gateway and a fork server: one `SOCK_SEQPACKET` message per
//! request or reply (so no framing), a request carrying the run's descriptors.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recv, sendmsg, shutdown, socketpair, AddressFamily, ControlMessage, MsgFlags, Shutdown,
    SockFlag, SockType,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The gateway's end of a fork server's socket.
pub(super) struct Channel {
    fd: AsyncFd<OwnedFd>,
}

/// A connected pair: (the gateway's end, non-blocking; the server's end, its stdin).
pub(super) fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    nix::fcntl::fcntl(
        &ours,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )?;
    Ok((ours, theirs))
}

impl Channel {
    pub fn new(fd: OwnedFd) -> io::Result<Channel> {
        // SAFETY: the OwnedFd stays open, and the same descriptor, while the AsyncFd owns it.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
                .map_err(io::Error::from)?;
        Ok(Channel { fd })
    }

    /// Sends one message, with `fds` attached (the server gets its own copies).
    pub async fn send(&self, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
        let rights = [ControlMessage::ScmRights(fds)];
        let control: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        loop {
            let mut ready = self.fd.writable().await?;
            let sent = ready.try_io(|fd| {
                sendmsg::<()>(
                    fd.as_raw_fd(),
                    &[IoSlice::new(bytes)],
                    control,
                    MsgFlags::MSG_NOSIGNAL,
                    None,
                )
                .map_err(io::Error::from)
            });
            match sent {
                Ok(result) => return result.map(drop),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives one message into `buffer`; 0 bytes means the server has gone.
    pub async fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.try_io(|fd| {
                recv(fd.as_raw_fd(), buffer, MsgFlags::empty()).map_err(io::Error::from)
            }) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Ends the conversation: the server sees end-of-file, stops its children and exits.
    pub fn close(&self) {
        let _ = shutdown(self.fd.get_ref().as_raw_fd(), Shutdown::Both);
    }
}
