//! Framing for the unix socket: 4-byte big-endian length, then JSON.

use std::path::Path;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::proto::{Hello, Request, Response, MAX_FRAME, PROTOCOL_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("no supervisor running; start it with `orc supervise --detach`")]
    NotRunning,
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME}")]
    TooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("the supervisor speaks protocol {theirs}, this orc speaks {ours}: restart the supervisor with this binary (`orc stop; orc supervise --detach`)")]
    Version { ours: u32, theirs: u32 },
    #[error("the supervisor did not answer in time")]
    Timeout,
    #[error("connection to the supervisor: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Unsafe(String),
}

pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    value: &T,
) -> Result<(), IpcError> {
    let bytes = serde_json::to_vec(value).map_err(|e| IpcError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_FRAME {
        return Err(IpcError::TooLarge(bytes.len()));
    }
    w.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> Result<T, IpcError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(IpcError::TooLarge(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    serde_json::from_slice(&buf).map_err(|e| IpcError::Malformed(e.to_string()))
}

/// Connect to the supervisor's socket. A runtime dir that is there but not
/// private (a symlink, another owner, group/other bits) is refused: a
/// planted one could hold someone else's socket, who would read every request.
async fn connect(socket: &Path) -> Result<UnixStream, IpcError> {
    if let Some(dir) = socket.parent() {
        if std::fs::symlink_metadata(dir).is_ok() {
            crate::private::check_runtime_dir(dir).map_err(IpcError::Unsafe)?;
        }
    }
    match UnixStream::connect(socket).await {
        Ok(s) => Ok(s),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(IpcError::NotRunning)
        }
        Err(e) => Err(e.into()),
    }
}

/// Exchange greetings; refuse a supervisor speaking another protocol.
async fn greet(stream: &mut UnixStream) -> Result<(), IpcError> {
    write_frame(stream, &Hello::ours()).await?;
    let theirs: Hello = read_frame(stream).await?;
    if theirs.protocol != PROTOCOL_VERSION {
        return Err(IpcError::Version {
            ours: PROTOCOL_VERSION,
            theirs: theirs.protocol,
        });
    }
    Ok(())
}

/// Connect, shake hands and send `req`; the caller reads the frames that
/// follow (`Request::Watch`).
pub async fn subscribe(socket: &Path, req: &Request) -> Result<UnixStream, IpcError> {
    let mut stream = connect(socket).await?;
    greet(&mut stream).await?;
    write_frame(&mut stream, req).await?;
    Ok(stream)
}

/// Connect, shake hands, send one request, read its response.
pub async fn request(
    socket: &Path,
    req: &Request,
    timeout: Duration,
) -> Result<Response, IpcError> {
    let mut stream = connect(socket).await?;
    let talk = async {
        greet(&mut stream).await?;
        write_frame(&mut stream, req).await?;
        read_frame::<_, Response>(&mut stream).await
    };
    tokio::time::timeout(timeout, talk)
        .await
        .map_err(|_| IpcError::Timeout)?
}
