/// Output aspect ratio of a video.
public enum AspectRatio: String, Codable, Sendable, CaseIterable {
    case landscape = "16:9"
    case portrait = "9:16"
    case square = "1:1"
    case portrait45 = "4:5"
}

/// Quality preset: frame size per aspect ratio and encoder settings (CONTRACTS.md, "Presets and frames").
public enum Preset: String, Codable, Sendable, CaseIterable {
    case draft, preview, final

    public func frameSize(_ aspect: AspectRatio) -> FrameSize {
        switch (self, aspect) {
        case (.draft, .landscape): FrameSize(960, 540)
        case (.draft, .portrait): FrameSize(540, 960)
        case (.draft, .square): FrameSize(540, 540)
        case (.draft, .portrait45): FrameSize(432, 540)
        case (.preview, .landscape): FrameSize(1280, 720)
        case (.preview, .portrait): FrameSize(720, 1280)
        case (.preview, .square): FrameSize(720, 720)
        case (.preview, .portrait45): FrameSize(576, 720)
        case (.final, .landscape): FrameSize(1920, 1080)
        case (.final, .portrait): FrameSize(1080, 1920)
        case (.final, .square): FrameSize(1080, 1080)
        case (.final, .portrait45): FrameSize(864, 1080)
        }
    }

    public var encoder: EncoderSettings {
        switch self {
        case .draft: EncoderSettings(x264Preset: "veryfast", crf: 28, audioBitrateKbps: 128)
        case .preview: EncoderSettings(x264Preset: "fast", crf: 23, audioBitrateKbps: 160)
        case .final: EncoderSettings(x264Preset: "medium", crf: 18, audioBitrateKbps: 192)
        }
    }
}

/// Width and height in pixels.
public struct FrameSize: Codable, Sendable, Hashable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(_ width: Int, _ height: Int) { self.width = width; self.height = height }
    public var description: String { "\(width)x\(height)" }
}

/// H.264/AAC encoder settings of a preset.
public struct EncoderSettings: Codable, Sendable, Hashable {
    public var x264Preset: String
    public var crf: Int
    public var audioBitrateKbps: Int
}

/// Frame timing shared by every output: 30 fps, and the rule that a time is rounded to the nearest frame.
public enum FrameClock {
    public static let fps = 30

    /// The frame nearest to a time in seconds (clamped to ±10 hours, so a wild value cannot trap).
    public static func frame(at seconds: Double) -> Int {
        guard seconds.isFinite else { return seconds < 0 ? -maxFrames : maxFrames }
        return Int(max(-Double(maxFrames), min(Double(maxFrames), (seconds * Double(fps)).rounded())))
    }

    static let maxFrames = 10 * 3600 * fps

    /// The time of a frame in seconds.
    public static func seconds(_ frame: Int) -> Double { Double(frame) / Double(fps) }

    /// A time rounded to the nearest frame.
    public static func snap(_ seconds: Double) -> Double { self.seconds(frame(at: seconds)) }
}
