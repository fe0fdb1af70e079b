// Drawing benchmark: time per frame of the procedural scene vocabulary at each preset's 16:9 size, drawing only
// (Cairo into an ARGB32 surface plus the copy of its bytes that is piped to ffmpeg), no encoding.
// Prints one JSON object per prompt and preset.
// Usage: reelsmith-drawbench [FRAMES (per measurement, default 120)] [PRESET] [PROMPT...]
import Foundation
import ReelCore
import ReelDraw

let frames = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 120
/// CPU time of this process: on a machine shared with other work it says more than the wall clock.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

let arguments = Array(CommandLine.arguments.dropFirst())
let presets = arguments.count > 1 ? [Preset(rawValue: arguments[1]) ?? .draft] : Preset.allCases
let prompts = arguments.count > 2 ? Array(arguments.dropFirst(2)) : [
    "neon city at night, rain, synthwave",
    "forest at dawn, calm, fog",
    "waves at sunset, a dancer",
    "perfume bottle ad, golden hour, brand logo",
]
for preset in presets {
    let size = preset.frameSize(.landscape)
    for prompt in prompts {
        let brief = try PromptParser().parse(prompt)
        let visual = SceneVocabulary.visual(prompt: prompt, palette: brief.palette, role: .build, mood: brief.mood)
        let drawing = SceneDrawing(visual: visual, width: size.width, height: size.height, frames: frames, seed: 7,
                                   energy: (0..<frames).map { 0.5 + 0.5 * sin(Double($0) / 9) })
        let canvas = Canvas(width: size.width, height: size.height)
        var bytes = 0
        let cpuStart = cpuSeconds()
        let start = ContinuousClock.now
        for i in 0..<frames {
            drawing.draw(frame: i, on: canvas)
            bytes &+= canvas.bgra().count
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cpu = cpuSeconds() - cpuStart
        let line: [String: Any] = ["preset": preset.rawValue, "width": size.width, "height": size.height, "prompt": prompt,
                                   "frames": frames, "msPerFrame": seconds * 1000 / Double(frames),
                                   "cpuMsPerFrame": cpu * 1000 / Double(frames), "bytes": bytes,
                                   "layers": visual.layers.map(\.rawValue), "subjects": visual.subjects.map(\.rawValue)]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
