import Foundation
import ReelCore
import ReelDraw
import ReelMedia

/// Encoder settings for intermediate scene clips: fast, and good enough that the final encode decides quality.
enum IntermediateEncoding {
    static func arguments(frames: Int, output: String) -> [String] {
        ["-frames:v", String(frames), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p",
         "-r", "30", "-an", "-f", "mp4", output]
    }

    /// How long making one scene's clip may take before ffmpeg is stopped.
    static func deadline(frames: Int) -> Duration {
        ProcessDeadline.forMedia(seconds: Double(frames) / Double(FrameClock.fps), perSecond: 30)
    }
}

/// The offline video provider: the scene its prompt describes, drawn with Cairo (`SceneDrawing`) and piped to ffmpeg as
/// raw frames; a prompt whose words the scene vocabulary does not know gets the abstract motion graphics of
/// `ProceduralRecipe`, drawn by ffmpeg's sources and filters.
public struct ProceduralClipProvider: ClipProvider {
    let runner: any ProcessRunner
    public init(runner: any ProcessRunner = SubprocessRunner()) { self.runner = runner }

    public func makeClip(_ request: ClipRequest) async throws -> ClipResult {
        let visual = Animatic.visual(for: request.scene, brief: request.brief)
        guard visual.isScene else { return try await makeAbstractClip(request) }
        // Streaming frames needs a runner that can write a child's standard input; the process seam's own one can.
        let feeder = runner as? any StandardInputRunner ?? SubprocessRunner()
        let w = request.size.width, h = request.size.height, frames = request.frames
        let drawing = SceneDrawing(visual: visual, width: w, height: h, frames: frames,
                                   seed: Animatic.drawingSeed(request.seed, scene: request.scene),
                                   energy: request.energy, fallbackEnergy: request.scene.energy)
        let args = ["-f", "rawvideo", "-pix_fmt", "bgra", "-s", "\(w)x\(h)",
                    "-r", String(FrameClock.fps), "-i", "-"] + IntermediateEncoding.arguments(frames: frames, output: request.output)
        try await feeder.ffmpeg(args, failure: .generationFailed,
                                what: "drawing scene \(request.scene.index) (\(visual.layers.map(\.rawValue).joined(separator: "+")))",
                                timeout: IntermediateEncoding.deadline(frames: frames)) { input in
            let canvas = Canvas(width: w, height: h)
            for i in 0..<frames {
                try Task.checkCancellation()
                drawing.draw(frame: i, on: canvas)
                try await input.write(canvas.bgra())
            }
        }
        return ClipResult(path: request.output)
    }

    /// Today's abstract motifs, for prompts the scene vocabulary has no word for.
    func makeAbstractClip(_ request: ClipRequest) async throws -> ClipResult {
        let recipe = ProceduralRecipe(request: request)
        let args = ["-filter_complex", recipe.graph(size: request.size).description,
                    "-map", "[v]"] + IntermediateEncoding.arguments(frames: request.frames, output: request.output)
        try await runner.ffmpeg(args, failure: .generationFailed, what: "drawing scene \(request.scene.index) (\(recipe.motif.rawValue))",
                                timeout: IntermediateEncoding.deadline(frames: request.frames))
        return ClipResult(path: request.output)
    }
}

/// Makes scenes from the user's own media: images with a slow pan and zoom, clips trimmed to the scene.
public struct UserMediaClipProvider: ClipProvider {
    let runner: any ProcessRunner
    public init(runner: any ProcessRunner = SubprocessRunner()) { self.runner = runner }

    public func makeClip(_ request: ClipRequest) async throws -> ClipResult {
        guard let media = request.scene.source.media else {
            throw ReelError(.badPlan, "scene \(request.scene.index) uses user media but names no file")
        }
        typealias F = FilterGraph.Filter
        let w = request.size.width, h = request.size.height
        var graph = FilterGraph()
        // Probed here, where it is opened: only the demuxer it was found to be reads it, and only as a local file.
        let input = try await MediaProbe(runner: runner).probe(media).input
        var args: [String] = []
        if request.scene.source.model == "image" {
            // Ken Burns: zoom from 1.0 to ~1.15 while drifting toward one corner picked by the seed.
            var rng = SeededGenerator.derived(seed: request.seed, "kenburns-\(request.scene.index)")
            let n = max(1, request.frames)
            let zoomEnd = 1.08 + 0.07 * Double.random(in: 0..<1, using: &rng)
            let dx = Bool.random(using: &rng) ? "(iw-iw/zoom)*on/\(n)" : "(iw-iw/zoom)*(1-on/\(n))"
            let dy = Bool.random(using: &rng) ? "(ih-ih/zoom)*on/\(n)" : "(ih-ih/zoom)/2"
            let zoom = "1+\(String(format: "%.5f", (zoomEnd - 1) / Double(n)))*on"
            // Upscale before zoompan so the slow zoom does not step from pixel to pixel. The one picture becomes all
            // `n` frames in zoompan (`d`), so no image-sequence demuxer (`-loop`) is needed to repeat it.
            graph.add(["0:v"], FilterGraph.cover(width: w * 2, height: h * 2) + [
                F("zoompan", ["z": zoom, "x": dx, "y": dy, "d": String(n), "s": "\(w)x\(h)", "fps": "30"]),
                F("format", [(nil, "yuv420p")]),
            ], ["v"])
            args += input.arguments
        } else {
            let offset = request.scene.source.mediaOffset ?? 0
            // Loop a clip shorter than its scene; start where this scene's share of the clip begins.
            graph.add(["0:v"], [F("fps", [(nil, "30")])] + FilterGraph.cover(width: w, height: h) + [F("format", [(nil, "yuv420p")])], ["v"])
            args += ["-stream_loop", "-1", "-ss", String(format: "%.3f", offset)] + input.arguments
        }
        args += ["-filter_complex", graph.description, "-map", "[v]"]
        args += IntermediateEncoding.arguments(frames: request.frames, output: request.output)
        try await runner.ffmpeg(args, failure: .generationFailed,
                                what: "preparing '\((media as NSString).lastPathComponent)' for scene \(request.scene.index)",
                                timeout: IntermediateEncoding.deadline(frames: request.frames))
        return ClipResult(path: request.output)
    }
}

/// Finds the user's images and clips in a folder, judged by what ffprobe says they are, not by their names.
public struct MediaLibrary: Sendable {
    let probe: MediaProbe
    public init(probe: MediaProbe = MediaProbe()) { self.probe = probe }

    /// The usable media in `directory`, sorted by name; files that are not images or videos are skipped with a warning.
    public func scan(_ directory: String) async throws -> (items: [MediaItem], skipped: [String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) else {
            throw ReelError(.fileNotFound, "the media folder '\(directory)' does not exist")
        }
        guard isDir.boolValue else { throw ReelError(.badInput, "--media must name a folder; '\(directory)' is a file") }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
        var items: [MediaItem] = [], skipped: [String] = []
        for name in names {
            try Task.checkCancellation()
            let path = (directory as NSString).appendingPathComponent(name)
            let info: MediaInfo
            do {
                info = try await probe.probe(path)
            } catch let error as ReelError where (error.cause as? RefusedMedia).map({ $0.reason != .unsupported }) == true {
                // Not a stray text file to skip: a file made to make ffmpeg read other files, or a picture no decoder
                // should allocate for. Say so and stop.
                let refused = error.cause as! RefusedMedia
                throw ReelError(.notMedia, refused.reason == .tooLarge ? "the media file '\(name)' in '\(directory)' holds \(refused.what)"
                                    : "the media file '\(name)' in '\(directory)' is refused: it is \(refused.what), not a plain image or video",
                                cause: refused)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                skipped.append("\(name): \(((error as? ReelError)?.cause as? RefusedMedia)?.what ?? "not an image or video")")
                continue
            }
            guard let video = info.video, (video.width ?? 0) > 0 else {
                skipped.append("\(name): not an image or video")
                continue
            }
            if info.isImage {
                items.append(MediaItem(path: path, kind: .image, duration: nil))
            } else if let d = video.duration ?? info.duration, d >= 0.2 {
                items.append(MediaItem(path: path, kind: .video, duration: d))
            } else {
                skipped.append("\(name): too short to use")
            }
        }
        guard !items.isEmpty else {
            let why = skipped.isEmpty ? "" : " (skipped \(skipped.prefix(5).joined(separator: "; "))\(skipped.count > 5 ? "; …" : ""))"
            throw ReelError(.notMedia, "the media folder '\(directory)' holds no images or video clips ffmpeg can read\(why)")
        }
        return (items, skipped)
    }
}
