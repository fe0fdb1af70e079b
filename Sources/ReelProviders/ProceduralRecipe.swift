import Foundation
import ReelCore
import ReelMedia

/// How the offline provider draws a scene: a motif (what moves), colours, motion speed and a grade, all
/// derived from the scene prompt, the Brief and the seed, so different prompts give different pictures.
public struct ProceduralRecipe: Sendable, Hashable {
    /// The kind of moving picture.
    public enum Motif: String, Sendable, CaseIterable {
        case gradientFlow, rain, cityLights, fractal, organic, stars, fire, waves
    }

    public var motif: Motif
    public var colors: [RGB]
    /// Motion speed, 0.3 (slow) to 2 (frantic).
    public var speed: Double
    public var grain: Int
    public var blur: Double
    public var contrast: Double
    public var brightness: Double
    public var saturation: Double
    /// Full hue turns per second of colour drift.
    public var hueDrift: Double
    /// Fixed hue rotation in degrees, from the prompt, so two scenes on one palette still differ.
    public var hueShift: Double
    public var vignette: Bool
    public var gradientType: String
    public var seed: UInt32

    static let motifWords: [(Motif, [String])] = [
        (.rain, ["rain", "rainy", "storm", "drizzle", "downpour", "wet", "tears"]),
        (.cityLights, ["city", "street", "streets", "skyline", "building", "buildings", "urban", "neon", "cyberpunk", "digital", "glitch", "matrix", "data", "grid", "circuit", "arcade", "club", "night"]),
        (.fractal, ["crystal", "crystals", "fractal", "kaleidoscope", "geometry", "geometric", "mandala", "galaxy", "nebula", "portal", "psychedelic"]),
        (.organic, ["forest", "jungle", "cells", "life", "garden", "flowers", "flower", "moss", "nature", "leaves", "bloom", "organic"]),
        (.stars, ["stars", "star", "space", "cosmos", "cosmic", "sky", "universe", "astronaut", "planet", "moon", "snow", "particles"]),
        (.fire, ["fire", "flames", "flame", "lava", "burning", "inferno", "volcano", "sparks", "explosion", "heat"]),
        (.waves, ["ocean", "sea", "waves", "wave", "water", "underwater", "river", "lake", "liquid", "dream", "dreams", "clouds", "fog", "smoke", "silk"]),
        (.gradientFlow, ["sunset", "sunrise", "light", "aurora", "abstract", "gradient", "colors", "colours", "sky", "product", "logo"]),
    ]

    public init(request: ClipRequest) {
        let scene = request.scene
        let brief = request.brief
        // The motif follows what the scene shows: the prompt's first clause ("tracking shot of rain, ..."), so a
        // user who edits a plan's prompt changes the picture.
        let promptHash = ContentHash.stableHash64(scene.prompt)
        var rng = SeededGenerator(seed: request.seed ^ promptHash)
        motif = Self.motif(for: scene)
        let palette = brief.palette.colors.isEmpty ? [RGB(40, 40, 80), RGB(200, 80, 160)] : brief.palette.colors
        let rotation = Int(promptHash >> 8 % UInt64(palette.count))
        colors = (0..<4).map { palette[($0 + rotation) % palette.count] }
        hueShift = Double(Int(promptHash >> 20 % 7) - 3) * 18   // -54° ... +54°
        let roleSpeed: Double = switch scene.role { case .intro: 0.6; case .build: 1.0; case .peak: 1.6; case .outro: 0.5 }
        let energy = max(scene.energy, brief.energy * 0.5)
        speed = min(2, max(0.3, roleSpeed * (0.6 + energy)))
        let mood = Set(brief.mood + brief.style)
        let gritty = !mood.isDisjoint(with: ["gritty", "vhs", "glitch", "noir", "retro", "vintage", "aggressive", "dark", "film noir", "lofi", "lo-fi"])
        let dreamy = !mood.isDisjoint(with: ["dreamy", "ethereal", "calm", "peaceful", "serene", "romantic", "chill", "nostalgic", "watercolor"])
        let dark = !mood.isDisjoint(with: ["dark", "moody", "noir", "eerie", "haunting", "mysterious", "film noir", "gothic"])
        // Grain only where the mood asks for it: per-frame noise costs the encoder dearly.
        grain = gritty ? 8 : 0
        blur = dreamy ? 2.5 : 0
        contrast = dark ? 1.25 : (scene.role == .peak ? 1.15 : 1.05)
        brightness = dark ? -0.06 : (scene.role == .intro ? -0.02 : 0.02)
        saturation = mood.contains("monochrome") || mood.contains("black and white") ? 0 : (dreamy ? 0.85 : (scene.role == .peak ? 1.4 : 1.15))
        hueDrift = brief.pacing == .fast ? 0.05 : 0.015
        vignette = dark || mood.contains("cinematic")
        gradientType = ["linear", "radial", "circular", "spiral"][Int.random(in: 0..<4, using: &rng)]
        seed = UInt32(truncatingIfNeeded: rng.next())
    }

    /// The motif of a scene: the first word of its prompt's first clause that names one, else one picked by the
    /// prompt's hash.
    public static func motif(for scene: Scene) -> Motif {
        let subject = scene.prompt.split(separator: ",").first.map(String.init) ?? scene.content
        let words = subject.lowercased().split(whereSeparator: { !$0.isLetter }).map(String.init)
        let found = words.lazy.compactMap { w in motifWords.first(where: { $0.1.contains(w) })?.0 }.first
        return found ?? Motif.allCases[Int(ContentHash.stableHash64(scene.prompt) % UInt64(Motif.allCases.count))]
    }

    /// The filter graph that draws the clip into `[v]`.
    public func graph(size: FrameSize) -> FilterGraph {
        typealias F = FilterGraph.Filter
        let w = size.width, h = size.height
        let small = { (d: Int) in "\(max(16, w / d / 2 * 2))x\(max(16, h / d / 2 * 2))" }
        var g = FilterGraph()
        // Gradients are smooth, so they are drawn at a quarter of the size and scaled up: same look, ~10x less work.
        let gradientSource = F("gradients", ["s": small(4), "r": "30", "c0": colors[0].hex, "c1": colors[1].hex, "c2": colors[2].hex,
                                       "c3": colors[3].hex, "n": "4", "speed": fmt(0.008 + 0.02 * speed),
                                       "seed": String(seed), "type": gradientType])
        let up = { (flags: String) in F("scale", ["w": String(w), "h": String(h), "flags": flags]) }
        let gradient = [gradientSource, up("bilinear")]
        switch motif {
        case .gradientFlow:
            g.add([], gradient + [F("format", [(nil, "gbrp")])], ["m"])
        case .rain:
            g.add([], gradient + [F("eq", ["brightness": "-0.25", "saturation": "1.2"]), F("format", [(nil, "gbrp")])], ["base"])
            // Noise starts from grey so it spreads both ways (from black it clips); only luma is noised.
            g.add([], [F("color", ["c": "gray", "s": small(2), "r": "30"]), F("noise", ["c0s": "100", "c0f": "t"]),
                       F("lutyuv", ["y": "if(gt(val,224),255,0)", "u": "128", "v": "128"]),
                       // Sparse dots smeared downwards become streaks; the blur dims them, so brighten after.
                       F("avgblur", ["sizeX": "1", "sizeY": String(8 + Int(8 * speed))]),
                       F("lutyuv", ["y": "clip(val*7,0,255)", "u": "128", "v": "128"]),
                       F("rotate", ["a": fmt(0.12 * (Double(seed % 2) * 2 - 1)), "c": "black"]), up("bilinear"), F("format", [(nil, "gbrp")])], ["p"])
            g.add(["base", "p"], [F("blend", ["all_mode": "screen"])], ["m"])
        case .cityLights:
            g.add([], gradient + [F("format", [(nil, "gbrp")])], ["base"])
            g.add([], [F("cellauto", ["s": small(8), "r": "30", "rule": String([18, 30, 90, 110, 150][Int(seed % 5)]),
                                       "ratio": "0.35", "seed": String(seed), "scroll": "1"]),
                       F("setpts", [(nil, "PTS/\(fmt(max(0.25, speed)))")]), F("fps", [(nil, "30")]),
                       up("neighbor"), F("gblur", ["sigma": "1.2"]), F("format", [(nil, "gbrp")])], ["p"])
            g.add(["base", "p"], [F("blend", ["all_mode": "multiply"]), F("eq", ["brightness": "0.06", "contrast": "1.3"])], ["m"])
        case .fractal:
            let (x, y) = [(-0.743643887, 0.131825904), (-0.7453, 0.1127), (-1.25066, 0.02012), (0.285, 0.01)][Int(seed % 4)]
            g.add([], [F("mandelbrot", ["s": small(2), "r": "30", "maxiter": "256", "start_x": fmt(x, 9), "start_y": fmt(y, 9),
                                        "start_scale": "3", "end_scale": fmt(0.3 / speed), "end_pts": "400",
                                        "outer": "normalized_iteration_count"]),
                       up("bicubic"), F("hue", ["h": fmt(hueShift + Double(seed % 360))]), F("format", [(nil, "gbrp")])], ["m"])
        case .organic:
            g.add([], [F("life", ["s": small(6), "r": "30", "mold": "12", "ratio": "0.12", "seed": String(seed),
                                  "life_color": colors[1].hex, "death_color": colors[3].hex, "mold_color": colors[0].hex]),
                       F("setpts", [(nil, "PTS/\(fmt(max(0.25, speed)))")]), F("fps", [(nil, "30")]),
                       up("bicubic"), F("gblur", ["sigma": "2"]), F("format", [(nil, "gbrp")])], ["m"])
        case .stars:
            g.add([], gradient + [F("eq", ["brightness": "-0.3"]), F("format", [(nil, "gbrp")])], ["base"])
            g.add([], [F("color", ["c": "gray", "s": small(2), "r": "30"]), F("noise", ["c0s": "100"]),
                       F("lutyuv", ["y": "if(gt(val,236),255,0)", "u": "128", "v": "128"]),
                       F("zoompan", ["z": "1+\(fmt(0.0015 * speed))*on", "d": "1", "s": small(2), "fps": "30",
                                     "x": "iw/2-(iw/zoom/2)", "y": "ih/2-(ih/zoom/2)"]),
                       up("bicubic"), F("format", [(nil, "gbrp")])], ["p"])
            g.add(["base", "p"], [F("blend", ["all_mode": "screen"])], ["m"])
        case .fire:
            g.add([], gradient + [F("format", [(nil, "gbrp")])], ["base"])
            g.add([], [F("color", ["c": "gray", "s": small(3), "r": "30"]), F("noise", ["c0s": "100", "c0f": "t"]),
                       F("avgblur", ["sizeX": "1", "sizeY": "6"]), F("eq", ["contrast": "7", "brightness": "0.15"]),
                       F("scroll", ["vertical": fmt(0.01 * speed)]), up("bicubic"), F("format", [(nil, "gbrp")])], ["p"])
            g.add(["base", "p"], [F("blend", ["all_mode": "multiply"]), F("eq", ["brightness": "0.1", "contrast": "1.4"])], ["m"])
        case .waves:
            let k = fmt(1.5 * speed)
            g.add([], gradient + [F("format", [(nil, "gbrp")])], ["base"])
            g.add([], [F("color", ["c": "gray", "s": small(4), "r": "30"]), F("format", [(nil, "yuv444p")]),
                       F("geq", ["lum": "128+70*sin(X/6+T*\(k))*cos(Y/9-T*\(k)*0.7)+50*sin((X+Y)/13+T*\(k)*1.3)", "cb": "128", "cr": "128"]),
                       up("bicubic"), F("format", [(nil, "gbrp")])], ["p"])
            g.add(["base", "p"], [F("blend", ["all_mode": "overlay"])], ["m"])
        }
        var grade: [F] = [
            F("format", [(nil, "yuv420p")]),
            F("hue", ["H": "\(fmt(hueShift * .pi / 180))+2*PI*t*\(fmt(hueDrift))", "s": fmt(saturation)]),
            F("eq", ["contrast": fmt(contrast), "brightness": fmt(brightness)]),
        ]
        if blur > 0 { grade.append(F("gblur", ["sigma": fmt(blur)])) }
        if vignette { grade.append(F("vignette", ["angle": "PI/4.5"])) }
        if grain > 0 { grade.append(F("noise", ["alls": String(grain), "allf": "t"])) }
        grade.append(F("format", [(nil, "yuv420p")]))
        g.add(["m"], grade, ["v"])
        return g
    }

    private func fmt(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }
}
