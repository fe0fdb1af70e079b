import CCairo
import Foundation
import ReelCore

/// A colour with components from 0 to 1, for drawing.
public struct Colour: Sendable, Hashable {
    public var r: Double, g: Double, b: Double
    public init(_ r: Double, _ g: Double, _ b: Double) { self.r = r; self.g = g; self.b = b }
    public init(_ rgb: RGB) { self.init(Double(rgb.r) / 255, Double(rgb.g) / 255, Double(rgb.b) / 255) }

    /// `self` moved toward `other` by `amount` (0: self, 1: other).
    public func mixed(with other: Colour, _ amount: Double) -> Colour {
        Colour(r + (other.r - r) * amount, g + (other.g - g) * amount, b + (other.b - b) * amount)
    }
    public func scaled(_ k: Double) -> Colour { Colour(min(1, r * k), min(1, g * k), min(1, b * k)) }
    /// Rec. 709 luma, 0 to 1.
    public var luma: Double { 0.2126 * r + 0.7152 * g + 0.0722 * b }
    public static let black = Colour(0, 0, 0), white = Colour(1, 1, 1)
}

/// One Cairo ARGB32 image surface and its context. A class because it owns C resources, freed on deinit; it lives
/// inside one drawing task and is never shared.
public final class Canvas {
    public let width: Int
    public let height: Int
    let surface: OpaquePointer
    let cr: OpaquePointer

    public init(width: Int, height: Int) {
        self.width = width; self.height = height
        surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(width), Int32(height))
        cr = cairo_create(surface)
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    /// The picture as packed BGRA bytes, top row first: Cairo's ARGB32 is BGRA in memory on little-endian machines,
    /// which is what ffmpeg's `-pix_fmt bgra` reads.
    public func bgra() -> [UInt8] {
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let rowBytes = width * 4
        guard let base = cairo_image_surface_get_data(surface) else { return [UInt8](repeating: 0, count: rowBytes * height) }
        if stride == rowBytes { return Array(UnsafeBufferPointer(start: base, count: rowBytes * height)) }
        var out = [UInt8](); out.reserveCapacity(rowBytes * height)
        for y in 0..<height { out.append(contentsOf: UnsafeBufferPointer(start: base + y * stride, count: rowBytes)) }
        return out
    }

    /// Writes the picture as PNG to `path`; throws `.outputNotWritable` when Cairo cannot.
    public func writePNG(to path: String) throws {
        cairo_surface_flush(surface)
        let status = cairo_surface_write_to_png(surface, path)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw ReelError(.outputNotWritable, "cannot write the PNG '\(path)': \(String(cString: cairo_status_to_string(status)))")
        }
    }

    /// The picture as PNG bytes.
    public func png() throws -> Data {
        final class Sink { var data = Data() }
        let sink = Sink()
        cairo_surface_flush(surface)
        let status = cairo_surface_write_to_png_stream(surface, { context, bytes, length in
            guard let context, let bytes else { return CAIRO_STATUS_WRITE_ERROR }
            Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue().data.append(bytes, count: Int(length))
            return CAIRO_STATUS_SUCCESS
        }, Unmanaged.passUnretained(sink).toOpaque())
        guard status == CAIRO_STATUS_SUCCESS else {
            throw ReelError(.internalError, "cannot encode the PNG: \(String(cString: cairo_status_to_string(status)))")
        }
        return sink.data
    }

    // MARK: - Drawing, a thin layer over Cairo's calls

    func save() { cairo_save(cr) }
    func restore() { cairo_restore(cr) }
    func translate(_ x: Double, _ y: Double) { cairo_translate(cr, x, y) }
    func scale(_ s: Double) { cairo_scale(cr, s, s) }
    func scaleXY(_ x: Double, _ y: Double) { cairo_scale(cr, x, y) }
    func rotate(_ a: Double) { cairo_rotate(cr, a) }
    func additive(_ on: Bool) { cairo_set_operator(cr, on ? CAIRO_OPERATOR_ADD : CAIRO_OPERATOR_OVER) }
    func colour(_ c: Colour, _ alpha: Double = 1) { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha) }
    func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double) { cairo_rectangle(cr, x, y, w, h) }
    func circle(_ x: Double, _ y: Double, _ r: Double) { cairo_new_sub_path(cr); cairo_arc(cr, x, y, r, 0, 2 * .pi) }
    func move(_ x: Double, _ y: Double) { cairo_move_to(cr, x, y) }
    func line(_ x: Double, _ y: Double) { cairo_line_to(cr, x, y) }
    func curve(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ x3: Double, _ y3: Double) {
        cairo_curve_to(cr, x1, y1, x2, y2, x3, y3)
    }
    func close() { cairo_close_path(cr) }
    func fill() { cairo_fill(cr) }
    func stroke(_ width: Double) { cairo_set_line_width(cr, width); cairo_stroke(cr) }
    func clip() { cairo_clip(cr) }
    /// Runs `body` with Cairo's cheaper antialiasing (for many long thin lines, where the default costs most).
    func fastAntialias(_ body: () -> Void) {
        let old = cairo_get_antialias(cr)
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_FAST)
        body()
        cairo_set_antialias(cr, old)
    }
    func newPath() { cairo_new_path(cr) }
    /// Paints another canvas's picture with its top-left corner at (x, y).
    func paint(_ other: Canvas, x: Double, y: Double) {
        cairo_surface_flush(other.surface)
        cairo_set_source_surface(cr, other.surface, x, y)
        cairo_paint(cr)
    }

    func roundedRect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ r: Double) {
        let r = min(r, w / 2, h / 2)
        cairo_new_sub_path(cr)
        cairo_arc(cr, x + w - r, y + r, r, -.pi / 2, 0)
        cairo_arc(cr, x + w - r, y + h - r, r, 0, .pi / 2)
        cairo_arc(cr, x + r, y + h - r, r, .pi / 2, .pi)
        cairo_arc(cr, x + r, y + r, r, .pi, 1.5 * .pi)
        close()
    }

    /// Fills the current path with a vertical gradient from `top` (at y0) to `bottom` (at y1).
    func fillVertical(_ y0: Double, _ top: Colour, _ y1: Double, _ bottom: Colour, alpha: (Double, Double) = (1, 1)) {
        let p = cairo_pattern_create_linear(0, y0, 0, y1)
        cairo_pattern_add_color_stop_rgba(p, 0, top.r, top.g, top.b, alpha.0)
        cairo_pattern_add_color_stop_rgba(p, 1, bottom.r, bottom.g, bottom.b, alpha.1)
        cairo_set_source(cr, p)
        cairo_fill(cr)
        cairo_pattern_destroy(p)
    }

    /// A soft round light: `c` at `alpha` in the middle fading to nothing at `radius`.
    func glow(_ x: Double, _ y: Double, _ radius: Double, _ c: Colour, _ alpha: Double) {
        guard radius > 0.5, alpha > 0.004 else { return }
        let p = cairo_pattern_create_radial(x, y, 0, x, y, radius)
        cairo_pattern_add_color_stop_rgba(p, 0, c.r, c.g, c.b, alpha)
        cairo_pattern_add_color_stop_rgba(p, 0.4, c.r, c.g, c.b, alpha * 0.35)
        cairo_pattern_add_color_stop_rgba(p, 1, c.r, c.g, c.b, 0)
        cairo_set_source(cr, p)
        rect(x - radius, y - radius, radius * 2, radius * 2)
        cairo_fill(cr)
        cairo_pattern_destroy(p)
    }

    // MARK: - Text (storyboards)

    func font(size: Double, bold: Bool = false) {
        // The toy text API finds "DejaVu Sans" (or fontconfig's nearest sans) among the system's fonts.
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
    }

    func textWidth(_ s: String) -> Double {
        var e = cairo_text_extents_t()
        cairo_text_extents(cr, s, &e)
        return e.x_advance
    }

    func text(_ s: String, _ x: Double, _ y: Double) { cairo_move_to(cr, x, y); cairo_show_text(cr, s) }

    /// `text` broken into at most `maxLines` lines no wider than `width`; the last line ends in "…" when text is left.
    func wrapped(_ text: String, width: Double, maxLines: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        let words = text.split(separator: " ").map(String.init)
        var i = 0
        while i < words.count {
            let candidate = current.isEmpty ? words[i] : current + " " + words[i]
            if textWidth(candidate) <= width { current = candidate; i += 1; continue }
            if current.isEmpty {
                // One word wider than the line: cut it.
                current = fitted(words[i], width: width); i += 1
            }
            lines.append(current); current = ""
            if lines.count == maxLines { break }
        }
        if lines.count < maxLines, !current.isEmpty { lines.append(current); current = "" }
        let left = i < words.count || !current.isEmpty
        if left, let last = lines.popLast() { lines.append(fitted(last + "…", width: width, suffix: "…")) }
        return lines
    }

    /// `s` shortened from the end until it fits `width`, keeping `suffix`.
    func fitted(_ s: String, width: Double, suffix: String = "") -> String {
        var t = s
        while textWidth(t) > width, t.count > suffix.count + 1 {
            t = String(t.dropLast(suffix.count + 1)) + suffix
        }
        return t
    }
}
