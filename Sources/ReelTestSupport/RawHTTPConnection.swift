import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An answer read off a `RawHTTPConnection`.
public struct RawHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    public func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A bare HTTP/1.1 connection on a blocking loopback socket, for tests that send what no HTTP library will: a
/// chunked body that never ends, a part header that never ends. It writes until the peer stops reading and reads
/// the answer whenever one arrives, so a test can show that a server answered (and stopped reading) long before an
/// endless request was over.
public final class RawHTTPConnection: @unchecked Sendable {
    private let fd: Int32
    private var received: [UInt8] = []
    /// The peer closed the connection (a read saw its end or a reset).
    private var peerClosed = false
    /// Bytes the peer has taken so far.
    public private(set) var bytesSent = 0

    /// Connects to `127.0.0.1:port`. A write that the peer does not take within `stallSeconds` counts as refused.
    public init(port: Int, stallSeconds: Double = 0.5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackError("RawHTTPConnection: socket() failed") }
        var timeout = timeval(tv_sec: Int(stallSeconds), tv_usec: Int((stallSeconds - Double(Int(stallSeconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw LoopbackError("RawHTTPConnection: cannot connect to port \(port)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends all of `bytes`; false as soon as the peer stops taking them (a write stalls) or has closed.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return false }
            offset += n
            bytesSent += n
        }
        return true
    }

    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// One chunk of a chunked body.
    public static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10]
    }

    /// The answer once it is complete (status line, headers and a `Content-Length` body), waiting up to `seconds`
    /// for it; nil if it is not complete by then.
    public func response(waiting seconds: Double) -> RawHTTPResponse? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let done = parse() { return done }
            let left = deadline.timeIntervalSinceNow
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(0, min(left, 1)) * 1000))
            if ready > 0 {
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 { received += buffer[0..<n]; continue }
                if n == 0 { peerClosed = true; return parse() }  // closed
                if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { peerClosed = true; return parse() }
            }
            if left <= 0 { return parse() }
        }
    }

    /// True once the peer has closed the connection (end of stream or reset), waiting up to `seconds` for it; what
    /// arrives meanwhile is kept (it is not part of an answer already read). False if it is still open by then.
    public func closedByPeer(waiting seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !peerClosed {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(min(left, 1) * 1000)) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { received += buffer[0..<n] }
            else if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { peerClosed = true }
        }
        return true
    }

    private func parse() -> RawHTTPResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard received.count >= 4, let end = (0...(received.count - 4)).first(where: { Array(received[$0..<$0 + 4]) == separator })
        else { return nil }
        let head = String(decoding: received[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        let bodyStart = end + 4
        guard received.count >= bodyStart + length else { return nil }
        return RawHTTPResponse(status: status, headers: headers, body: Data(received[bodyStart..<bodyStart + length]))
    }

    /// Resident memory of process `pid` in bytes (Linux `/proc/PID/status`, `VmRSS`); nil where unavailable.
    public static func residentBytes(of pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kib * 1024
    }
}
