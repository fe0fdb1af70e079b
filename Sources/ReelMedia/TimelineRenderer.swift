import Foundation
import ReelCore
import Synchronization

/// Renders a `Timeline` in ONE ffmpeg invocation: normalise every clip, join them with cuts and xfades
/// centred on the planned frames, mix the song (loudness-normalised, faded out), encode H.264/AAC MP4.
public struct TimelineRenderer: Sendable {
    let runner: any ProcessRunner
    public init(runner: any ProcessRunner = SubprocessRunner()) { self.runner = runner }

    /// The filter graph of `timeline`: `[vout]` and, with audio, `[aout]`.
    public static func filterGraph(_ timeline: Timeline) -> FilterGraph {
        typealias F = FilterGraph.Filter
        var graph = FilterGraph()
        for (i, clip) in timeline.clips.enumerated() {
            graph.add(["\(i):v"], [F("fps", [(nil, String(timeline.fps))])]
                + FilterGraph.cover(width: timeline.size.width, height: timeline.size.height, extra: ["out_color_matrix": "bt709"]) + [
                F("format", [(nil, "yuv420p")]),
                // A clip shorter than its slot (a model's fixed-length output) holds its last frame.
                F("tpad", ["stop": "-1", "stop_mode": "clone"]),
                F("trim", ["end_frame": String(clip.frames)]),
                F("setpts", [(nil, "PTS-STARTPTS")]),
            ], ["c\(i)"])
        }
        var current = "c0"
        for i in 1..<max(1, timeline.clips.count) {
            let transition = timeline.transitions[i - 1]
            let frames = Timeline.frames(of: transition)
            let out = "j\(i)"
            if frames == 0 {
                // concat outputs in microseconds; xfade further on needs both inputs in the clips' 1/30 s.
                graph.add([current, "c\(i)"], [F("concat", ["n": "2", "v": "1", "a": "0"]), F("settb", [(nil, "1/\(timeline.fps)")])], [out])
            } else {
                let offset = FrameClock.seconds(timeline.cutFrames[i - 1] - frames / 2)
                graph.add([current, "c\(i)"], [F("xfade", ["transition": transition.kind.rawValue,
                                                            "duration": format(FrameClock.seconds(frames)),
                                                            "offset": format(offset)])], [out])
            }
            current = out
        }
        graph.add([current], [F("trim", ["end_frame": String(timeline.durationFrames)]), F("format", [(nil, "yuv420p")])], ["vout"])
        if let audio = timeline.audio {
            let d = timeline.duration
            graph.add(["\(timeline.clips.count):a"], [
                F("aformat", ["sample_fmts": "fltp", "channel_layouts": "stereo"]),
                F("aresample", [(nil, "48000")]),
                F("apad"),
                F("atrim", ["end": format(d)]),
                F("asetpts", [(nil, "PTS-STARTPTS")]),
                F("loudnorm", ["I": format(audio.loudness), "TP": "-1.5", "LRA": "11"]),
                F("aresample", [(nil, "48000")]),
                F("afade", ["t": "out", "st": format(max(0, d - audio.fadeOut)), "d": format(audio.fadeOut)]),
            ], ["aout"])
        }
        return graph
    }

    /// The ffmpeg arguments (after `FFmpegPreamble`) that render `timeline` to `output`. The clips are Reelsmith's own
    /// MP4s; `audio` is the song as `MediaProbe` judged it, required when the timeline has audio.
    public static func arguments(_ timeline: Timeline, output: String, audio: MediaInput?) throws -> [String] {
        var args = ["-progress", "pipe:1", "-nostats"]
        // Each clip's input starts at its place on the timeline, so ffmpeg reads the clips in order (it always
        // reads the input whose timestamps lag most) instead of decoding all of them at once and queueing
        // frames of later scenes in memory; the graph re-bases every clip to 0 with setpts.
        // One decoder thread per clip: only a scene or two decode at any moment, and a frame-threaded decoder
        // per input holds several frames each (tens of MB per clip at 1080p) for the whole render.
        for clip in timeline.clips {
            args += ["-threads", "1", "-itsoffset", format(FrameClock.seconds(clip.startFrame))] + MediaInput.own(clip.path).arguments
        }
        if let song = timeline.audio {
            guard let audio, audio.path == MediaInput.own(song.path).path else {
                throw ReelError(.internalError, "the song '\((song.path as NSString).lastPathComponent)' was not probed before rendering")
            }
            args += ["-ss", format(song.start), "-t", format(timeline.duration + 0.5)] + audio.arguments
        }
        args += ["-filter_complex", filterGraph(timeline).description, "-map", "[vout]"]
        if timeline.audio != nil { args += ["-map", "[aout]"] }
        args += ["-c:v", "libx264", "-preset", timeline.encoder.x264Preset, "-crf", String(timeline.encoder.crf),
                 "-pix_fmt", "yuv420p", "-r", String(timeline.fps),
                 "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]
        if timeline.audio != nil { args += ["-c:a", "aac", "-b:a", "\(timeline.encoder.audioBitrateKbps)k", "-ar", "48000"] }
        args += ["-frames:v", String(timeline.durationFrames), "-movflags", "+faststart", "-f", "mp4", output]
        return args
    }

    /// Renders to `output`, reporting the fraction done. The caller owns temporary naming. The song is probed first
    /// (it is the user's file) and opened only with the demuxer it was found to be.
    public func render(_ timeline: Timeline, to output: String, onProgress: @escaping @Sendable (Double) -> Void = { _ in }) async throws {
        let total = timeline.duration
        var audio: MediaInput?
        if let song = timeline.audio {
            do {
                audio = try await MediaProbe(runner: runner).probe(song.path).input
            } catch let e as ReelError where e.code == .notMedia {
                throw ReelError(.notAudio, "the audio file '\((song.path as NSString).lastPathComponent)' cannot be used: \(e.cause.map { "it is \($0)" } ?? "it is not an audio file")", cause: e)
            }
        }
        let lines = LineSplitter { line in
            if line.hasPrefix("out_time_us="), let us = Double(line.dropFirst(12)), total > 0 {
                onProgress(min(1, us / 1_000_000 / total))
            }
        }
        try await runner.ffmpeg(Self.arguments(timeline, output: output, audio: audio), failure: .renderFailed,
                                what: "rendering the video", timeout: Self.deadline(timeline), onStdout: { lines.feed($0) })
    }

    /// A render's deadline: x264 at the final preset on a busy 2-core machine runs at about a tenth of real time, so
    /// a minute to start plus a minute per second of video (and a little per clip) bounds only a stuck ffmpeg.
    static func deadline(_ timeline: Timeline) -> Duration {
        ProcessDeadline.forMedia(seconds: timeline.duration + Double(timeline.clips.count), perSecond: 60)
    }

    static func format(_ x: Double) -> String { String(format: "%.6f", x) }
}

/// Splits a byte stream into lines and hands each to a closure.
final class LineSplitter: Sendable {
    private let pending = Mutex([UInt8]())
    private let onLine: @Sendable (Substring) -> Void
    init(_ onLine: @escaping @Sendable (Substring) -> Void) { self.onLine = onLine }

    func feed(_ raw: UnsafeRawBufferPointer) {
        let lines: [String] = pending.withLock { buffer in
            var out: [String] = []
            for byte in raw {
                if byte == UInt8(ascii: "\n") {
                    out.append(String(decoding: buffer, as: UTF8.self))
                    buffer.removeAll(keepingCapacity: true)
                } else {
                    buffer.append(byte)
                }
            }
            return out
        }
        for line in lines { onLine(Substring(line)) }
    }
}
