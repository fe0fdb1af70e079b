import Foundation
import Vapor

extension Problem {
    /// The answer to a request whose body was not read to its end (a 413), after which the server closes the
    /// connection. Kept open, Vapor would read and drop the rest of the body however long its `Content-Length` (when
    /// the handler threw before reading), or keep the socket while nothing reads it (when it threw while reading).
    ///
    /// A `Connection: close` header alone does not do it: Vapor's `HTTPServerHandler` decides keep-alive from the
    /// request only (and adds its own `Connection` header). So the body is streamed with its length; once its bytes
    /// are written the stream ends in an error, on which Vapor's response encoder quiesces the connection and the
    /// pipeline's `NIOCloseOnErrorHandler` closes the channel (both directions).
    func closingResponse() -> Response {
        let answer = response()
        answer.headers.replaceOrAdd(name: .connection, value: "close")
        let bytes = answer.body.buffer ?? ByteBuffer()
        answer.body = .init(asyncStream: { writer in
            // The answer is on the wire before the close (each write completes once flushed to the socket).
            try? await writer.write(.buffer(bytes))
            try? await writer.write(.error(ConnectionClosedAfterAnswer()))
        }, count: bytes.readableBytes)
        return answer
    }
}

/// Ends a closing answer's body stream: the error Vapor needs to close the connection after it, nothing failed.
struct ConnectionClosedAfterAnswer: Error {}
