import Foundation
import ReelCore

/// Draws one scene of the procedural vocabulary frame by frame: the layers of a `SceneVisual` back to front, its
/// subjects in front, moved by its camera at a speed that follows the music's energy. Everything random (building
/// heights, lit windows, stars, drops) is drawn from the seed once, so the same seed gives the same frames.
public struct SceneDrawing: Sendable {
    public let visual: SceneVisual
    public let width: Int
    public let height: Int
    public let frames: Int
    /// Seconds of motion at each frame: time run faster where the music is louder.
    let clock: [Double]
    /// Energy (0 to 1) at each frame.
    let energy: [Double]
    let elements: Elements
    let paletteOffset: Int
    /// The sun's (or moon's) distance from the middle, as a fraction of the width.
    let sunOffset: Double
    let clockOffset: Double

    /// - Parameters:
    ///   - energy: the music's energy over the scene, one value per frame or a curve resampled to the frames
    ///     (empty: `fallbackEnergy` throughout).
    public init(visual: SceneVisual, width: Int, height: Int, frames: Int, seed: UInt64, energy: [Double], fallbackEnergy: Double = 0.5) {
        self.visual = visual; self.width = width; self.height = height; self.frames = max(1, frames)
        let n = self.frames
        let perFrame: [Double] = energy.isEmpty ? Array(repeating: fallbackEnergy, count: n)
            : (0..<n).map { energy[min(energy.count - 1, $0 * energy.count / n)] }
        self.energy = perFrame.map { min(1, max(0, $0)) }
        var t = 0.0
        clock = self.energy.map { e in defer { t += (0.5 + 1.2 * e) / Double(FrameClock.fps) }; return t }
        var rng = SeededGenerator.derived(seed: seed, "scene-drawing")
        elements = Elements(width: Double(width), height: Double(height), rng: &rng)
        // Two scenes that map to the same layers still differ: where the sun stands, which palette colour leads, and
        // how far into its motion the scene starts come from the seed too.
        var look = SeededGenerator.derived(seed: seed, "scene-look")
        paletteOffset = Int.random(in: 0..<8, using: &look)
        sunOffset = Double.random(in: -0.22...0.22, using: &look)
        clockOffset = Double.random(in: 0..<12, using: &look)
    }

    /// Draws frame `index` (0-based) onto `canvas`, which must be `width × height`.
    public func draw(frame index: Int, on canvas: Canvas) {
        let i = min(max(0, index), frames - 1)
        let f = Frame(d: self, canvas: canvas, c: clockOffset + clock[i], t: clockOffset + Double(i) / Double(FrameClock.fps), e: energy[i])
        f.draw()
    }

    /// Frame `index` as packed BGRA bytes (a new canvas; for tests and single pictures).
    public func bgra(frame index: Int) -> [UInt8] {
        let canvas = Canvas(width: width, height: height)
        draw(frame: index, on: canvas)
        return canvas.bgra()
    }

    /// Random scenery drawn from the seed once per scene.
    struct Elements: Sendable {
        struct Block: Sendable { var x: Double, w: Double, h: Double, lit: [Bool], cols: Int, rows: Int, hue: Int }
        struct Dot: Sendable { var x: Double, y: Double, size: Double, phase: Double, speed: Double }
        var skyline: [Block] = []
        var near: [Block] = []
        var ridges: [[Double]] = []
        var trees: [Dot] = []
        var stars: [Dot] = []
        var drops: [Dot] = []
        var flakes: [Dot] = []
        var sparks: [Dot] = []
        var confetti: [Dot] = []
        var bushes: [Dot] = []

        init(width w: Double, height h: Double, rng: inout SeededGenerator) {
            func r(_ a: Double, _ b: Double) -> Double { Double.random(in: a..<b, using: &rng) }
            // Far scenery spans two frame widths so a pan can wrap around it.
            var x = 0.0
            while x < 2 * w {
                let bw = r(0.03, 0.075) * w, bh = r(0.07, 0.30) * h
                let cols = max(1, Int(bw / (w * 0.012))), rows = max(1, Int(bh / (h * 0.03)))
                skyline.append(Block(x: x, w: bw, h: bh, lit: (0..<cols * rows).map { _ in r(0, 1) < 0.3 }, cols: cols, rows: rows,
                                     hue: Int.random(in: 0..<4, using: &rng)))
                x += bw + r(0, 0.01) * w
            }
            for side in [0.0, 1.0] {
                var x = side == 0 ? -0.25 * w : 0.74 * w
                let end = side == 0 ? 0.27 * w : 1.25 * w
                while x < end {
                    let bw = r(0.09, 0.16) * w, bh = r(0.38, 0.72) * h
                    let cols = max(2, Int(bw / (w * 0.025))), rows = max(2, Int(bh / (h * 0.05)))
                    near.append(Block(x: x, w: bw, h: bh, lit: (0..<cols * rows).map { _ in r(0, 1) < 0.45 }, cols: cols, rows: rows,
                                      hue: Int.random(in: 0..<4, using: &rng)))
                    x += bw + r(0.005, 0.02) * w
                }
            }
            ridges = (0..<2).map { layer in (0...32).map { _ in r(0.05, layer == 0 ? 0.30 : 0.18) * h } }
            trees = stride(from: 0.0, to: 2 * w, by: w * 0.022).map { x in Dot(x: x + r(0, 0.01) * w, y: 0, size: r(0.05, 0.13) * h, phase: r(0, 6.28), speed: 0) }
            stars = (0..<170).map { _ in Dot(x: r(0, w), y: r(0, 0.6) * h, size: r(0.6, 1.9), phase: r(0, 6.28), speed: r(1, 4)) }
            drops = (0..<320).map { _ in Dot(x: r(-0.1, 1.1) * w, y: r(0, 1) * h, size: r(0.03, 0.07) * h, phase: 0, speed: r(1.4, 2.2)) }
            flakes = (0..<220).map { _ in Dot(x: r(0, 1) * w, y: r(0, 1) * h, size: r(1.2, 3.2), phase: r(0, 6.28), speed: r(0.06, 0.16)) }
            sparks = (0..<90).map { _ in Dot(x: r(0.1, 0.9) * w, y: r(0, 1) * h, size: r(1, 2.6), phase: r(0, 6.28), speed: r(0.15, 0.45)) }
            confetti = (0..<110).map { _ in Dot(x: r(0, 1) * w, y: r(0, 1) * h, size: r(4, 9), phase: r(0, 6.28), speed: r(0.12, 0.3)) }
            bushes = (0..<9).map { i in Dot(x: (Double(i) / 8) * w + r(-0.04, 0.04) * w, y: h * r(0.93, 1.0), size: r(0.08, 0.16) * h, phase: r(0, 6.28), speed: 0) }
        }
    }
}

/// One frame being drawn: the scene, its canvas and where the music and camera are.
private struct Frame {
    let d: SceneDrawing
    let canvas: Canvas
    /// Motion clock (seconds, faster when loud), real time, and energy now.
    let c: Double, t: Double, e: Double
    let w: Double, h: Double, horizon: Double
    let palette: [Colour]
    let has: Set<SceneVisual.Layer>

    init(d: SceneDrawing, canvas: Canvas, c: Double, t: Double, e: Double) {
        self.d = d; self.canvas = canvas; self.c = c; self.t = t; self.e = e
        w = Double(d.width); h = Double(d.height)
        has = Set(d.visual.layers)
        let far: Set<SceneVisual.Layer> = [.mountains, .skyline, .dunes, .treeLine, .waves, .grid, .water, .road, .buildings]
        horizon = has.isDisjoint(with: far) ? h : h * 0.62
        let colours = d.visual.palette.colors.map(Colour.init)
        palette = colours.isEmpty ? [Colour(1, 0.2, 0.6), Colour(0, 0.9, 1), Colour(0.5, 0.2, 1), Colour(0.05, 0.05, 0.15)] : colours
    }

    func accent(_ i: Int) -> Colour { palette[(i + d.paletteOffset) % palette.count] }
    /// The palette's most saturated colour, for lights.
    var light: Colour { palette.max(by: { saturation($0) < saturation($1) }) ?? .white }
    func saturation(_ c: Colour) -> Double { max(c.r, c.g, c.b) - min(c.r, c.g, c.b) }

    // MARK: - Camera

    /// Horizontal drift of a layer at `depth` (0 far … 1 near), in pixels.
    func shift(_ depth: Double) -> Double {
        switch d.visual.camera {
        case .pan: return c * w * 0.05 * (0.3 + 0.7 * depth)
        case .parallax: return c * w * 0.07 * depth * depth
        case .orbit: return sin(c * 0.6) * w * 0.04 * depth
        case .zoom: return 0
        }
    }

    /// Applies the camera for a layer at `depth` around the frame's centre.
    func camera(_ depth: Double, _ body: () -> Void) {
        canvas.save()
        switch d.visual.camera {
        case .zoom:
            let s = 1 + 0.035 * c * (0.2 + 0.8 * depth)
            canvas.translate(w / 2, horizon * 0.9); canvas.scale(s); canvas.translate(-w / 2, -horizon * 0.9)
        case .orbit:
            canvas.translate(w / 2, h / 2); canvas.rotate(sin(c * 0.5) * 0.025 * depth); canvas.translate(-w / 2, -h / 2)
        case .pan, .parallax: break
        }
        body()
        canvas.restore()
    }

    // MARK: - Colours of the light

    var skyColours: (Colour, Colour) {
        var (top, bottom): (Colour, Colour) = switch d.visual.timeOfDay {
        case .night: (Colour(0.015, 0.015, 0.05), Colour(0.09, 0.05, 0.18))
        case .dawn: (Colour(0.36, 0.46, 0.74), Colour(1.0, 0.74, 0.56))
        case .day: (Colour(0.24, 0.50, 0.86), Colour(0.76, 0.88, 1.0))
        case .sunset: (Colour(0.22, 0.12, 0.36), Colour(1.0, 0.48, 0.24))
        }
        // The mood's palette tints the haze near the horizon.
        bottom = bottom.mixed(with: accent(0), d.visual.timeOfDay == .night ? 0.22 : 0.12)
        switch d.visual.weather {
        case .rain, .storm:
            let grey = Colour(0.42, 0.44, 0.48).scaled(d.visual.timeOfDay == .night ? 0.25 : 1)
            top = top.mixed(with: grey, 0.55).scaled(d.visual.weather == .storm ? 0.6 : 0.8)
            bottom = bottom.mixed(with: grey, 0.5).scaled(d.visual.weather == .storm ? 0.6 : 0.85)
        case .fog, .snow:
            let pale = Colour(0.78, 0.8, 0.84).scaled(d.visual.timeOfDay == .night ? 0.3 : 1)
            top = top.mixed(with: pale, 0.45); bottom = bottom.mixed(with: pale, 0.55)
        case .clear: break
        }
        return (top, bottom)
    }

    /// How bright the scenery is: silhouettes at night, lit by day.
    var daylight: Double {
        switch d.visual.timeOfDay { case .night: 0.12; case .dawn: 0.45; case .sunset: 0.35; case .day: 0.8 }
    }

    var sunPosition: (x: Double, y: Double, r: Double) {
        let low = d.visual.timeOfDay != .day
        let rise = d.visual.timeOfDay == .dawn ? -c * h * 0.006 : (d.visual.timeOfDay == .sunset ? c * h * 0.006 : 0)
        let x = w * (0.5 + d.sunOffset) - shift(0.05)
        let y = (low ? horizon - h * 0.12 : h * 0.2) + rise
        let r = h * (has.contains(.grid) ? 0.2 : (low ? 0.11 : 0.07))
        return (x, y, r)
    }

    // MARK: - Drawing

    func draw() {
        sky()
        if has.contains(.stars) { stars() }
        if has.contains(.moon) { moon() }
        if has.contains(.sun) { sun() }
        if has.contains(.godRays) { godRays() }
        if horizon < h { ground() }
        if has.contains(.mountains) { mountains() }
        if has.contains(.dunes) { dunes() }
        if has.contains(.treeLine) { treeLine() }
        if has.contains(.skyline) { skyline() }
        if has.contains(.waves) { waves() }
        if has.contains(.water) { water() }
        if has.contains(.grid) { grid() }
        if has.contains(.road) { road() }
        if has.contains(.neonGlow) { neon() }
        if has.contains(.buildings) { buildings() }
        if has.contains(.foliage) { foliage() }
        subjects()
        if has.contains(.fog) { fog() }
        if has.contains(.rain) { rain() }
        if has.contains(.snow) { snow() }
        if has.contains(.sparks) { sparks() }
        if has.contains(.confetti) { confetti() }
        if has.contains(.lensFlare) { lensFlare() }
    }

    func sky() {
        let (top, bottom) = skyColours
        canvas.rect(0, 0, w, h)
        canvas.fillVertical(0, top, max(1, horizon), bottom)
    }

    func stars() {
        let fade = d.visual.timeOfDay == .night ? 1.0 : 0.25
        for s in d.elements.stars where s.y < horizon {
            let twinkle = 0.55 + 0.45 * sin(t * s.speed + s.phase)
            canvas.colour(.white, fade * twinkle)
            canvas.rect(s.x - shift(0.02).truncatingRemainder(dividingBy: w), s.y, s.size, s.size)
            canvas.fill()
        }
    }

    func moon() {
        let x = w * (0.5 - d.sunOffset) - shift(0.03), y = h * 0.2, r = h * 0.06
        canvas.glow(x, y, r * 3, Colour(0.7, 0.75, 0.9), 0.25)
        canvas.colour(Colour(0.93, 0.93, 0.86)); canvas.circle(x, y, r); canvas.fill()
        canvas.colour(Colour(0.8, 0.8, 0.74), 0.6); canvas.circle(x - r * 0.3, y + r * 0.2, r * 0.22); canvas.fill()
    }

    func sun() {
        let (x, y, r) = sunPosition
        let warm: Colour = switch d.visual.timeOfDay {
        case .day: Colour(1, 0.97, 0.85)
        case .night: accent(0).mixed(with: Colour(1, 0.5, 0.3), 0.4)
        default: Colour(1, 0.78, 0.45)
        }
        // Radial gradients cost Cairo per pixel: the glow stays within about twice the disc.
        canvas.glow(x, y, r * 2.3, warm, 0.4 + 0.2 * e)
        if has.contains(.grid) {
            // The synthwave sun: a warm-to-pink disc cut by bands that thicken toward its bottom.
            canvas.save()
            canvas.circle(x, y, r); canvas.clip()
            canvas.rect(x - r, y - r, 2 * r, 2 * r)
            canvas.fillVertical(y - r, Colour(1, 0.85, 0.3), y + r, accent(0).mixed(with: Colour(1, 0.2, 0.6), 0.5))
            let (top, bottom) = skyColours
            for k in 0..<6 {
                let by = y + r * (0.1 + 0.16 * Double(k)) + (c * 6).truncatingRemainder(dividingBy: r * 0.16)
                canvas.colour(top.mixed(with: bottom, 0.8)); canvas.rect(x - r, by, 2 * r, 1.5 + Double(k) * 1.6); canvas.fill()
            }
            canvas.restore()
        } else {
            canvas.colour(warm); canvas.circle(x, y, r); canvas.fill()
        }
    }

    func godRays() {
        let (x, y, _) = sunPosition
        canvas.additive(true)
        for k in 0..<7 {
            let a = Double(k) / 7 * .pi + 0.15 + sin(c * 0.3) * 0.08
            let spread = 0.05
            canvas.move(x, y)
            canvas.line(x + cos(a - spread) * w * 1.4, y + sin(a - spread) * w * 1.4)
            canvas.line(x + cos(a + spread) * w * 1.4, y + sin(a + spread) * w * 1.4)
            canvas.close()
            canvas.colour(Colour(1, 0.9, 0.7), 0.05 + 0.04 * e)
            canvas.fill()
        }
        canvas.additive(false)
    }

    func ground() {
        let (_, bottom) = skyColours
        let base: Colour = has.contains(.dunes) ? Colour(0.78, 0.58, 0.36) : (has.contains(.waves) || has.contains(.water) ? Colour(0.05, 0.22, 0.42)
            : (has.contains(.treeLine) || has.contains(.foliage) ? Colour(0.12, 0.26, 0.12) : Colour(0.2, 0.2, 0.22)))
        let lit = base.scaled(0.25 + daylight)
        canvas.rect(0, horizon, w, h - horizon)
        canvas.fillVertical(horizon, lit.mixed(with: bottom, 0.25), h, lit.scaled(0.6))
    }

    func ridge(_ heights: [Double], depth: Double, colour: Colour) {
        camera(depth) {
            let step = 2 * w / Double(heights.count - 1)
            let off = shift(depth).truncatingRemainder(dividingBy: 2 * w)
            for copy in [0.0, 2 * w] {
                canvas.move(copy - off, horizon)
                for (i, y) in heights.enumerated() {
                    let px = copy - off + Double(i) * step
                    canvas.line(px, horizon - y)
                }
                canvas.line(copy - off + 2 * w, horizon); canvas.close()
            }
            canvas.colour(colour); canvas.fill()
        }
    }

    func mountains() {
        let (_, bottom) = skyColours
        ridge(d.elements.ridges[0], depth: 0.1, colour: bottom.mixed(with: Colour(0.2, 0.22, 0.3), 0.6).scaled(0.4 + daylight * 0.6))
        ridge(d.elements.ridges[1], depth: 0.25, colour: Colour(0.14, 0.15, 0.2).scaled(0.5 + daylight))
    }

    func dunes() {
        camera(0.3) {
            for layer in 0..<2 {
                let base = horizon + Double(layer) * h * 0.08
                let off = shift(0.2 + 0.3 * Double(layer))
                canvas.move(0, h)
                canvas.line(0, base)
                var x = 0.0
                while x <= w {
                    let y = base - h * 0.05 * sin((x + off) / w * 5 + Double(layer) * 2) - h * 0.03 * sin((x + off) / w * 11)
                    canvas.line(x, y); x += w / 48
                }
                canvas.line(w, h); canvas.close()
                canvas.colour(Colour(0.85, 0.62, 0.38).scaled(0.45 + daylight * 0.7 - Double(layer) * 0.12)); canvas.fill()
            }
        }
    }

    func treeLine() {
        let off = shift(0.35).truncatingRemainder(dividingBy: 2 * w)
        let colour = Colour(0.05, 0.14, 0.08).scaled(0.5 + daylight)
        camera(0.35) {
            for tr in d.elements.trees {
                var x = tr.x - off
                if x < -0.1 * w { x += 2 * w }
                guard x < w * 1.1 else { continue }
                let sway = sin(c * 1.5 + tr.phase) * tr.size * 0.04
                canvas.move(x - tr.size * 0.3, horizon + 2); canvas.line(x + sway, horizon - tr.size); canvas.line(x + tr.size * 0.3, horizon + 2)
                canvas.close()
            }
            canvas.colour(colour); canvas.fill()
        }
    }

    func blocks(_ list: [SceneDrawing.Elements.Block], baseY: Double, depth: Double, wraps: Bool, body: Colour, window: Double) {
        let off = shift(depth)
        camera(depth) {
            for b in list {
                var x = b.x - off
                if wraps {
                    x = x.truncatingRemainder(dividingBy: 2 * w); if x < -b.w { x += 2 * w }
                }
                guard x < w, x + b.w > 0 else { continue }
                canvas.colour(body); canvas.rect(x, baseY - b.h, b.w, b.h); canvas.fill()
            }
            guard window > 0 else { return }
            // Lit windows, a few switching with the music.
            let flicker = Int(c * 2)
            for hue in 0..<4 {
                let lamp = hue == 0 ? Colour(1, 0.85, 0.55) : accent(hue).mixed(with: .white, 0.3)
                var any = false
                for b in list where b.hue == hue {
                    var x = b.x - off
                    if wraps { x = x.truncatingRemainder(dividingBy: 2 * w); if x < -b.w { x += 2 * w } }
                    guard x < w, x + b.w > 0 else { continue }
                    let cw = b.w / Double(b.cols), ch = b.h / Double(b.rows)
                    for (k, on) in b.lit.enumerated() {
                        let toggled = (k &* 31 &+ flicker &* 17) % 23 == 0 && e > 0.5
                        guard on != toggled else { continue }
                        let col = k % b.cols, row = k / b.cols
                        canvas.rect(x + Double(col) * cw + cw * 0.25, baseY - b.h + Double(row) * ch + ch * 0.3, cw * 0.5, ch * 0.4)
                        any = true
                    }
                }
                if any { canvas.colour(lamp, window); canvas.fill() }
            }
        }
    }

    func skyline() {
        let (_, bottom) = skyColours
        let body = bottom.mixed(with: Colour(0.03, 0.03, 0.06), 0.8 - daylight * 0.3)
        blocks(d.elements.skyline, baseY: horizon + 1, depth: 0.2, wraps: true, body: body,
               window: d.visual.timeOfDay == .night || d.visual.timeOfDay == .sunset ? 0.9 : 0.25)
    }

    func buildings() {
        let body = Colour(0.05, 0.05, 0.08).scaled(1 + daylight * 3)
        blocks(d.elements.near, baseY: h, depth: 0.9, wraps: false, body: body,
               window: d.visual.timeOfDay == .night || d.visual.timeOfDay == .sunset ? 0.95 : 0.3)
    }

    func waves() {
        camera(0.4) {
            let deep = Colour(0.04, 0.2, 0.4).mixed(with: accent(1), 0.15).scaled(0.4 + daylight)
            canvas.rect(0, horizon, w, h - horizon)
            canvas.fillVertical(horizon, deep.scaled(1.2), h, deep.scaled(0.6))
            // Crests: lines that grow and move as they come nearer.
            for k in 0..<14 {
                let z = (Double(k) / 14 + c * 0.05).truncatingRemainder(dividingBy: 1)
                let y = horizon + (h - horizon) * z * z
                canvas.move(0, y)
                var x = 0.0
                while x <= w { canvas.line(x, y + sin(x / w * 14 + c * 2 + Double(k)) * (1 + 6 * z)); x += w / 32 }
                canvas.colour(Colour(0.8, 0.9, 1), 0.15 + 0.35 * z * daylight + 0.1)
                canvas.stroke(0.8 + 2.5 * z)
            }
        }
    }

    func water() {
        let (x, _, _) = sunPosition
        let glint: Colour = has.contains(.sun) ? Colour(1, 0.8, 0.5) : (has.contains(.moon) ? Colour(0.8, 0.85, 1) : light)
        canvas.additive(true)
        for k in 0..<26 {
            let z = Double(k) / 26
            let y = horizon + 3 + (h - horizon) * z
            let len = w * (0.03 + 0.1 * z) * (0.6 + 0.4 * sin(c * 3 + Double(k) * 1.7))
            canvas.colour(glint, 0.18 + 0.2 * e)
            canvas.rect(x - len / 2 + sin(c * 2 + Double(k)) * 8, y, len, 1 + 2 * z)
            canvas.fill()
        }
        canvas.additive(false)
    }

    func perspective(_ z: Double) -> Double { horizon + (h - horizon) * z * z }

    func grid() {
        let neon = accent(0).mixed(with: Colour(1, 0.2, 0.8), 0.3)
        canvas.rect(0, horizon, w, h - horizon)
        canvas.fillVertical(horizon, Colour(0.06, 0.02, 0.12), h, Colour(0.01, 0.0, 0.03))
        // A glow along the horizon, where the lines crowd together.
        canvas.additive(true)
        canvas.rect(0, horizon - h * 0.04, w, h * 0.12)
        canvas.fillVertical(horizon - h * 0.04, neon, horizon + h * 0.08, neon, alpha: (0, 0.35 * (0.6 + 0.4 * e)))
        canvas.additive(false)
        camera(0.8) {
            // Rows come toward the camera faster when the music is louder.
            for k in 0..<12 {
                let z = (Double(k) / 12 + c * 0.25 * (0.6 + e)).truncatingRemainder(dividingBy: 1)
                let y = perspective(z)
                canvas.move(0, y); canvas.line(w, y)
            }
            canvas.colour(neon.mixed(with: .white, 0.3), 0.9); canvas.stroke(1.4)
            let off = shift(0.8).truncatingRemainder(dividingBy: w / 8)
            for k in -4...12 {
                let bx = Double(k) * w / 8 - off
                canvas.move(w / 2 + (bx - w / 2) * 0.05, horizon); canvas.line(w / 2 + (bx - w / 2) * 2.2, h)
            }
            canvas.fastAntialias { canvas.stroke(1.4) }
        }
    }

    func road() {
        camera(0.85) {
            let vx = w / 2
            canvas.move(vx - w * 0.01, horizon); canvas.line(vx + w * 0.01, horizon)
            canvas.line(w * 0.92, h); canvas.line(w * 0.08, h); canvas.close()
            canvas.colour(Colour(0.1, 0.1, 0.12).scaled(0.6 + daylight)); canvas.fill()
            // Dashes come toward the camera faster when the music is louder.
            for k in 0..<10 {
                let z0 = (Double(k) / 10 + c * 0.35).truncatingRemainder(dividingBy: 1)
                let z1 = min(1, z0 + 0.045)
                let y0 = perspective(z0), y1 = perspective(z1)
                let half0 = 1 + 5 * z0 * z0, half1 = 1 + 5 * z1 * z1
                canvas.move(vx - half0, y0); canvas.line(vx + half0, y0); canvas.line(vx + half1, y1); canvas.line(vx - half1, y1); canvas.close()
            }
            canvas.colour(Colour(1, 0.9, 0.6), 0.85); canvas.fill()
            canvas.move(vx - w * 0.01, horizon); canvas.line(w * 0.08, h)
            canvas.move(vx + w * 0.01, horizon); canvas.line(w * 0.92, h)
            canvas.colour(.white, 0.5); canvas.stroke(2)
        }
    }

    func neon() {
        canvas.additive(true)
        let pulse = 0.45 + 0.55 * e
        for k in 0..<5 {
            let col = accent(k)
            let x = (w * (0.1 + 0.2 * Double(k)) - shift(0.5)).truncatingRemainder(dividingBy: w * 1.1)
            let xx = x < -0.05 * w ? x + w * 1.1 : x
            let y = horizon - h * (0.12 + 0.05 * Double((k * 7) % 3))
            canvas.glow(xx, y, h * 0.16, col, 0.35 * pulse)
            canvas.colour(col.mixed(with: .white, 0.4), 0.9 * pulse)
            canvas.rect(xx - w * 0.035, y, w * 0.07, 3)
            canvas.fill()
        }
        // A haze of the palette's light over the horizon: a band, cheaper than one more big radial glow.
        canvas.rect(0, horizon - h * 0.3, w, h * 0.3)
        canvas.fillVertical(horizon - h * 0.3, light, horizon, light, alpha: (0, 0.16 * pulse))
        canvas.additive(false)
    }

    func foliage() {
        camera(1) {
            for b in d.elements.bushes {
                let sway = sin(c * 1.8 + b.phase) * b.size * 0.08
                for k in 0..<5 {
                    let a = Double(k) / 4 * .pi * 0.8 + .pi * 1.1
                    let lx = b.x + cos(a) * b.size * 0.6 + sway, ly = b.y + sin(a) * b.size * 0.7
                    canvas.move(b.x, b.y)
                    canvas.curve(b.x + sway, b.y - b.size * 0.3, lx - b.size * 0.2, ly, lx, ly)
                    canvas.curve(lx + b.size * 0.2, ly + b.size * 0.1, b.x + b.size * 0.1, b.y - b.size * 0.2, b.x, b.y)
                }
            }
            canvas.colour(Colour(0.06, 0.2, 0.08).scaled(0.4 + daylight)); canvas.fill()
        }
    }

    // MARK: - Subjects

    func subjects() {
        let list = d.visual.subjects
        guard !list.isEmpty else { return }
        for (i, s) in list.enumerated() {
            let x = w * (Double(i) + 1) / Double(list.count + 1)
            camera(0.95) {
                switch s {
                case .figure: figure(x)
                case .car: car(x)
                case .productBox: box(x)
                case .bottle: bottle(x)
                case .logoPlate: plate(x)
                }
            }
        }
    }

    func figure(_ x: Double) {
        let s = h * 0.42, base = h * 0.96
        let beat = sin(c * 4) * (0.2 + 0.6 * e)
        let dark = Colour(0.03, 0.03, 0.05)
        canvas.glow(x, base - s * 0.6, s * 0.5, light, 0.14 + 0.1 * e)
        canvas.colour(dark)
        canvas.circle(x, base - s * 0.92, s * 0.075); canvas.fill()
        canvas.move(x - s * 0.11, base - s * 0.8); canvas.line(x + s * 0.11, base - s * 0.8)
        canvas.line(x + s * 0.08, base - s * 0.42); canvas.line(x - s * 0.08, base - s * 0.42); canvas.close(); canvas.fill()
        // Arms and legs move on the beat.
        canvas.move(x - s * 0.1, base - s * 0.78); canvas.line(x - s * 0.25, base - s * (0.55 + 0.25 * beat))
        canvas.move(x + s * 0.1, base - s * 0.78); canvas.line(x + s * 0.25, base - s * (0.55 - 0.25 * beat))
        canvas.move(x - s * 0.05, base - s * 0.44); canvas.line(x - s * (0.12 + 0.04 * beat), base)
        canvas.move(x + s * 0.05, base - s * 0.44); canvas.line(x + s * (0.12 - 0.04 * beat), base)
        canvas.stroke(s * 0.05)
        // Rim light in the palette's colour.
        canvas.colour(light, 0.6); canvas.circle(x + s * 0.02, base - s * 0.92, s * 0.075); canvas.stroke(1.5)
    }

    func car(_ x: Double) {
        let cw = w * 0.26, chh = h * 0.09, base = h * 0.93 + sin(c * 8) * 1.5 * e
        let body = accent(0).scaled(0.6)
        canvas.colour(Colour(0, 0, 0), 0.4); canvas.rect(x - cw * 0.55, base - 4, cw * 1.1, 10); canvas.fill()
        canvas.colour(body); canvas.roundedRect(x - cw / 2, base - chh, cw, chh * 0.7, chh * 0.2); canvas.fill()
        canvas.colour(body.scaled(0.7)); canvas.roundedRect(x - cw * 0.3, base - chh * 1.6, cw * 0.6, chh * 0.7, chh * 0.25); canvas.fill()
        canvas.colour(Colour(0.6, 0.7, 0.9), 0.5); canvas.rect(x - cw * 0.25, base - chh * 1.5, cw * 0.5, chh * 0.45); canvas.fill()
        canvas.colour(Colour(0.02, 0.02, 0.02))
        canvas.circle(x - cw * 0.3, base - chh * 0.25, chh * 0.3); canvas.circle(x + cw * 0.3, base - chh * 0.25, chh * 0.3); canvas.fill()
        canvas.additive(true)
        canvas.glow(x - cw * 0.42, base - chh * 0.6, chh * 1.2, Colour(1, 0.1, 0.1), 0.6)
        canvas.glow(x + cw * 0.42, base - chh * 0.6, chh * 1.2, Colour(1, 0.1, 0.1), 0.6)
        canvas.additive(false)
    }

    func box(_ x: Double) {
        // A box turning on a turntable: the visible faces' widths follow the angle.
        let a = c * 0.9
        let bw = h * 0.26, bd = h * 0.18, bh = h * 0.34, base = h * 0.86
        canvas.colour(Colour(0, 0, 0), 0.35); ellipse(x, base, bw * 0.9, bh * 0.08); canvas.fill()
        let fw = bw * abs(cos(a)), sw = bd * abs(sin(a))
        let left = x - (fw + sw) / 2
        let frontFirst = cos(a) * sin(a) >= 0
        let front = accent(0), side = accent(0).scaled(0.6), label = accent(1)
        let faces: [(Double, Colour)] = frontFirst ? [(fw, front), (sw, side)] : [(sw, side), (fw, front)]
        var fx = left
        for (fwid, col) in faces {
            canvas.colour(col); canvas.rect(fx, base - bh, fwid, bh); canvas.fill()
            if col == front, fwid > 4 {
                canvas.colour(label); canvas.rect(fx, base - bh * 0.62, fwid, bh * 0.22); canvas.fill()
            }
            fx += fwid
        }
        canvas.colour(accent(0).mixed(with: .white, 0.35))
        canvas.move(left, base - bh); canvas.line(left + (fw + sw) * 0.5 + 6, base - bh - bd * 0.25)
        canvas.line(left + fw + sw, base - bh); canvas.close(); canvas.fill()
        canvas.additive(true); canvas.glow(x, base - bh * 0.5, bh * 0.9, label, 0.14 + 0.12 * e); canvas.additive(false)
    }

    /// Adds an ellipse to the path (Cairo keeps the path in device space, so it survives the restore).
    func ellipse(_ x: Double, _ y: Double, _ rx: Double, _ ry: Double) {
        canvas.save(); canvas.translate(x, y); canvas.scaleXY(rx, ry); canvas.circle(0, 0, 1); canvas.restore()
    }

    func bottle(_ x: Double) {
        let bh = h * 0.5, bw = bh * 0.28, base = h * 0.9
        let tilt = sin(c * 0.8) * 0.05
        canvas.save(); canvas.translate(x, base); canvas.rotate(tilt)
        canvas.move(-bw / 2, 0); canvas.line(-bw / 2, -bh * 0.6)
        canvas.curve(-bw / 2, -bh * 0.72, -bw * 0.18, -bh * 0.74, -bw * 0.16, -bh * 0.82)
        canvas.line(-bw * 0.16, -bh); canvas.line(bw * 0.16, -bh); canvas.line(bw * 0.16, -bh * 0.82)
        canvas.curve(bw * 0.18, -bh * 0.74, bw / 2, -bh * 0.72, bw / 2, -bh * 0.6)
        canvas.line(bw / 2, 0); canvas.close()
        canvas.fillVertical(-bh, accent(0).mixed(with: .white, 0.2), 0, accent(0).scaled(0.5))
        canvas.colour(accent(1)); canvas.rect(-bw / 2, -bh * 0.45, bw, bh * 0.18); canvas.fill()
        canvas.colour(.white, 0.35 + 0.3 * e); canvas.rect(-bw * 0.32, -bh * 0.58, bw * 0.07, bh * 0.5); canvas.fill()
        canvas.restore()
    }

    func plate(_ x: Double) {
        let s = 1 + 0.03 * sin(c * 3) * (0.5 + e)
        let pw = w * 0.34 * s, ph = h * 0.22 * s, y = h * 0.42
        canvas.colour(Colour(0, 0, 0), 0.35); canvas.roundedRect(x - pw / 2 + 6, y - ph / 2 + 8, pw, ph, ph * 0.18); canvas.fill()
        canvas.colour(accent(3 % max(1, palette.count)).mixed(with: .black, 0.2)); canvas.roundedRect(x - pw / 2, y - ph / 2, pw, ph, ph * 0.18); canvas.fill()
        canvas.colour(accent(0)); canvas.circle(x - pw * 0.3, y, ph * 0.3); canvas.fill()
        canvas.colour(accent(1)); canvas.circle(x - pw * 0.3, y, ph * 0.16); canvas.fill()
        canvas.colour(.white, 0.9)
        canvas.rect(x - pw * 0.1, y - ph * 0.18, pw * 0.45, ph * 0.12); canvas.rect(x - pw * 0.1, y + ph * 0.04, pw * 0.3, ph * 0.09); canvas.fill()
    }

    // MARK: - Particles and lens

    func fog() {
        for k in 0..<4 {
            let y = horizon - h * 0.15 + Double(k) * h * 0.12 + sin(c * 0.4 + Double(k)) * h * 0.02
            canvas.rect(0, y - h * 0.12, w, h * 0.24)
            let pale = Colour(0.85, 0.87, 0.9).scaled(0.4 + daylight * 0.7)
            canvas.fillVertical(y - h * 0.12, pale, y + h * 0.12, pale, alpha: (0, 0.28))
        }
    }

    func rain() {
        // Thin, nearly vertical streaks: fast, and faster when the music is louder.
        let fall = t * h * (1.6 + 0.8 * e)
        let slant = 0.08
        for drop in d.elements.drops {
            let y = (drop.y + fall * drop.speed).truncatingRemainder(dividingBy: h + drop.size) - drop.size
            let x = drop.x + y * slant
            canvas.move(x, y); canvas.line(x + drop.size * slant, y + drop.size)
        }
        canvas.colour(Colour(0.8, 0.85, 0.95), d.visual.timeOfDay == .night ? 0.5 : 0.6)
        canvas.stroke(1.2)
    }

    func snow() {
        for f in d.elements.flakes {
            let y = (f.y + t * h * f.speed * (0.7 + 0.6 * e)).truncatingRemainder(dividingBy: h)
            let x = f.x + sin(t * 1.3 + f.phase) * 12
            canvas.circle(x, y, f.size)
        }
        canvas.colour(.white, 0.85); canvas.fill()
    }

    func sparks() {
        canvas.additive(true)
        for s in d.elements.sparks {
            var y = (s.y - t * h * s.speed * (0.8 + e)).truncatingRemainder(dividingBy: h)
            if y < 0 { y += h }
            let x = s.x + sin(t * 2 + s.phase) * 10
            canvas.circle(x, y, s.size)
        }
        canvas.colour(Colour(1, 0.6, 0.2), 0.9); canvas.fill()
        canvas.additive(false)
    }

    func confetti() {
        for (i, p) in d.elements.confetti.enumerated() {
            let y = (p.y + t * h * p.speed * (0.8 + e)).truncatingRemainder(dividingBy: h)
            let x = p.x + sin(t * 1.7 + p.phase) * 14
            canvas.save(); canvas.translate(x, y); canvas.rotate(t * 3 + p.phase)
            canvas.colour(accent(i)); canvas.rect(-p.size / 2, -p.size / 4, p.size, p.size / 2 * abs(cos(t * 4 + p.phase)) + 1); canvas.fill()
            canvas.restore()
        }
    }

    func lensFlare() {
        let (sx, sy, _) = has.contains(.sun) ? sunPosition : (w * (0.5 - d.sunOffset) - shift(0.03), h * 0.2, 0)
        let cx = w / 2, cy = h / 2
        canvas.additive(true)
        for k in 1...5 {
            let f = Double(k) * 0.35
            let x = sx + (cx - sx) * f * 2, y = sy + (cy - sy) * f * 2
            canvas.glow(x, y, h * (0.03 + 0.02 * Double(k % 3)), accent(k).mixed(with: .white, 0.4), 0.18 + 0.1 * e)
        }
        canvas.additive(false)
    }
}
