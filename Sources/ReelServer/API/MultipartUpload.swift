import Crypto
import Foundation
import ReelCore
import Vapor

/// How much of a `multipart/form-data` upload the server reads before it gives up, whatever `Content-Length` says
/// (or whether there is one): every cap holds while the body streams in, so an endless body, an endless part
/// header or an endless run of parts is cut off with a 413 after a bounded amount of memory and disk.
struct MultipartCaps: Sendable, Equatable {
    /// Bytes of the part named `file`.
    var fileBytes: Int64
    /// Bytes of the whole body: the file plus boundaries, part headers and other fields.
    var bodyBytes: Int64
    /// Bytes of one part's header block (and of the preamble before the first part, or the epilogue after the last).
    var partHeaderBytes: Int
    /// Parts in one body.
    var parts: Int
    /// Bytes of all parts other than `file` together (they are read and dropped).
    var otherFieldBytes: Int

    init(_ limits: ServiceLimits) {
        fileBytes = limits.maxUploadBytes
        bodyBytes = limits.maxUploadBodyBytes
        partHeaderBytes = limits.maxPartHeaderBytes
        parts = limits.maxMultipartParts
        otherFieldBytes = limits.maxFormFieldBytes
    }
}

/// Receives a `multipart/form-data` body chunk by chunk and writes the part named `file` to disk: never whole in memory.
///
/// MultipartKit's parser keeps a header line in memory until its end and has no limits of its own, so the receiver
/// meters what it hands the parser: while a part's headers are being read it feeds at most what is left of the
/// header allowance, and stops as soon as the allowance is spent.
final class MultipartFileReceiver {
    private enum Phase { case headers, body }

    private let parser: MultipartParser
    private let handle: FileHandle
    private let caps: MultipartCaps
    private var hasher = SHA256()
    private var headers: [(String, String)] = []
    private var partIsFile: Bool?
    private var failure: Problem?
    private var otherBytes = 0
    /// The preamble counts as the first part's headers: nothing but a boundary may come before a part.
    private var phase = Phase.headers
    private var headerBytes = 0
    private var partsSeen = 0
    private(set) var bodyBytes: Int64 = 0
    /// The parser hands over small slices (it splits at every CR byte): they are gathered and written 1 MiB at a time.
    private var pending = ByteBuffer()
    private(set) var fileBytes: Int64 = 0
    private(set) var sawFile = false
    private(set) var filename: String?
    private(set) var declaredType: String?

    /// Largest slice handed to the parser outside a header block: bounds how many header bytes of the next part can
    /// slip in uncounted behind the end of a part.
    private static let bodySlice = 64 << 10

    init(path: String, boundary: String, caps: MultipartCaps) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ReelError(.outputNotWritable, "cannot create the upload's temporary file")
        }
        self.handle = handle
        self.caps = caps
        self.parser = MultipartParser(boundary: boundary)
        parser.onHeader = { [unowned self] name, value in self.headers.append((name, value)) }
        parser.onBody = { [unowned self] buffer in
            self.phase = .body
            self.body(&buffer)
        }
        parser.onPartComplete = { [unowned self] in
            if self.isFilePart() { self.flush(); self.sawFile = true }
            self.headers = []
            self.partIsFile = nil
            self.phase = .headers
            self.headerBytes = 0
            self.partsSeen += 1
            if self.partsSeen > self.caps.parts, self.failure == nil {
                self.failure = Problem(.payloadTooLarge, "too-large", "a multipart upload may have at most \(self.caps.parts) parts")
            }
        }
    }

    deinit { try? handle.close() }

    func feed(_ chunk: ByteBuffer) throws {
        bodyBytes += Int64(chunk.readableBytes)
        if bodyBytes > caps.bodyBytes {
            throw Problem(.payloadTooLarge, "too-large", "an upload's body may be at most \(caps.bodyBytes) bytes")
        }
        var rest = chunk
        while rest.readableBytes > 0 {
            let inHeaders = phase == .headers, partsBefore = partsSeen
            // One byte past the allowance is enough to know it is exceeded.
            let step = min(rest.readableBytes, inHeaders ? caps.partHeaderBytes - headerBytes + 1 : Self.bodySlice)
            let slice = rest.readSlice(length: step)!
            do { try parser.execute(slice) } catch {
                throw Problem.badRequest("the multipart body is malformed")
            }
            if let failure { throw failure }
            // A slice in which a part ended counts towards nothing: the next part's allowance starts after it (so a
            // header block may run over by at most one slice before it is caught).
            if inHeaders && phase == .headers && partsSeen == partsBefore {
                headerBytes += step
                if headerBytes > caps.partHeaderBytes {
                    throw Problem(.payloadTooLarge, "too-large",
                                  "a multipart part's headers (or the text around the parts) may be at most \(caps.partHeaderBytes) bytes")
                }
            }
        }
    }

    /// Closes the file; answers the SHA-256 of what was written.
    func finish() throws -> String {
        flush()
        if let failure { throw failure }
        try handle.synchronize()
        try handle.close()
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    private func isFilePart() -> Bool {
        if let partIsFile { return partIsFile }
        let disposition = headers.first { $0.0.lowercased() == "content-disposition" }?.1 ?? ""
        let params = Self.parameters(disposition)
        let isFile = params["name"] == "file"
        if isFile {
            filename = params["filename"].map(Self.displayName)
            declaredType = headers.first { $0.0.lowercased() == "content-type" }?.1
        }
        partIsFile = isFile
        return isFile
    }

    private func body(_ buffer: inout ByteBuffer) {
        guard failure == nil else { buffer.moveReaderIndex(forwardBy: buffer.readableBytes); return }
        let count = buffer.readableBytes
        if isFilePart() {
            if sawFile { failure = Problem.badRequest("send one part named 'file' per request"); return }
            fileBytes += Int64(count)
            if fileBytes > caps.fileBytes {
                failure = Problem(.payloadTooLarge, "too-large", "uploads are limited to \(caps.fileBytes) bytes")
                return
            }
            pending.writeBuffer(&buffer)
            if pending.readableBytes >= 1 << 20 { flush() }
            return
        } else {
            // Other form fields are ignored, but only small ones are tolerated.
            otherBytes += count
            if otherBytes > caps.otherFieldBytes {
                failure = Problem(.payloadTooLarge, "too-large", "form fields other than 'file' are limited to \(caps.otherFieldBytes) bytes")
            }
        }
        buffer.moveReaderIndex(forwardBy: count)
    }

    private func flush() {
        guard pending.readableBytes > 0, failure == nil else { return }
        let data = Data(pending.readableBytesView)
        pending.clear()
        hasher.update(data: data)
        do { try handle.write(contentsOf: data) } catch {
            failure = Problem(.insufficientStorage, "storage-failed", "the server could not store the upload")
        }
    }

    /// `form-data; name="file"; filename="a.mp3"` → ["name": "file", "filename": "a.mp3"].
    static func parameters(_ header: String) -> [String: String] {
        var out: [String: String] = [:]
        for piece in header.split(separator: ";").dropFirst() {
            let kv = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { continue }
            var value = kv[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            out[kv[0].lowercased()] = value
        }
        return out
    }

    /// The user's file name, for display only: last path component, no control characters, at most 255 characters.
    static func displayName(_ raw: String) -> String {
        let last = raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let clean = String(String.UnicodeScalarView(last.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }))
        let short = String(String.UnicodeScalarView(clean.unicodeScalars.prefix(255)))
        return short.isEmpty ? "upload" : short
    }
}
