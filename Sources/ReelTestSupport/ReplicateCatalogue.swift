import Foundation
import ReelCore

/// Fake versions of the Replicate models the shipped registry uses, with input schemas written from the published
/// model pages (`shared/reference/replicate-models.md`), not from the registry, so a registry that drifts from a
/// model's real inputs fails the tests.
public enum ReplicateCatalogue {
    static let aspectRatios: JSONValue = ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]

    public static let fluxSchnell = FakeModel(
        name: "black-forest-labs/flux-schnell",
        input: ["prompt": ["type": "string"], "aspect_ratio": ["type": "string", "enum": aspectRatios, "default": "1:1"],
                "num_outputs": ["type": "integer", "minimum": 1, "maximum": 4, "default": 1],
                "output_format": ["type": "string", "enum": ["webp", "jpg", "png"], "default": "webp"],
                "seed": ["type": "integer"], "go_fast": ["type": "boolean", "default": true], "megapixels": ["type": "string", "enum": ["1", "0.25"]]],
        required: ["prompt"], output: .image, price: .perImage(0.003), outputIsArray: true)

    public static let imagen4Fast = FakeModel(
        name: "google/imagen-4-fast",
        input: ["prompt": ["type": "string"], "aspect_ratio": ["type": "string", "enum": ["1:1", "9:16", "16:9", "3:4", "4:3"]],
                "output_format": ["type": "string", "enum": ["jpg", "png"]], "safety_filter_level": ["type": "string"]],
        required: ["prompt"], output: .image, price: .perImage(0.02))

    public static let flux11Pro = FakeModel(
        name: "black-forest-labs/flux-1.1-pro",
        input: ["prompt": ["type": "string"], "aspect_ratio": ["type": "string", "enum": aspectRatios], "seed": ["type": "integer"],
                "output_format": ["type": "string", "enum": ["webp", "jpg", "png"]], "safety_tolerance": ["type": "integer"]],
        required: ["prompt"], output: .image, price: .perImage(0.04))

    public static let wan22I2VFast = FakeModel(
        name: "wan-video/wan-2.2-i2v-fast",
        input: ["image": ["type": "string", "format": "uri"], "prompt": ["type": "string"], "last_image": ["type": "string", "format": "uri"],
                "num_frames": ["type": "integer", "minimum": 81, "maximum": 121, "default": 81],
                "frames_per_second": ["type": "integer", "minimum": 5, "maximum": 30, "default": 16],
                "resolution": ["type": "string", "enum": ["480p", "720p"], "default": "480p"], "go_fast": ["type": "boolean"],
                "seed": ["type": "integer"], "interpolate_output": ["type": "boolean"]],
        required: ["image", "prompt"], output: .video, price: .perOutput(0.05))

    public static let seedance1Lite = FakeModel(
        name: "bytedance/seedance-1-lite",
        input: ["prompt": ["type": "string"], "image": ["type": "string", "format": "uri"], "last_frame_image": ["type": "string", "format": "uri"],
                "duration": ["type": "integer", "minimum": 2, "maximum": 12, "default": 5],
                "resolution": ["type": "string", "enum": ["480p", "720p", "1080p"]],
                "aspect_ratio": ["type": "string", "enum": ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"]],
                "fps": ["type": "integer", "enum": [24]], "camera_fixed": ["type": "boolean"], "seed": ["type": "integer"]],
        required: ["prompt"], output: .video, price: .perSecondOfOutput(0.018, durationInput: "duration"))

    public static let kling25TurboPro = FakeModel(
        name: "kwaivgi/kling-v2.5-turbo-pro",
        input: ["prompt": ["type": "string"], "start_image": ["type": "string", "format": "uri"],
                "aspect_ratio": ["type": "string", "enum": ["16:9", "9:16", "1:1"]], "duration": ["type": "integer", "enum": [5, 10], "default": 5],
                "negative_prompt": ["type": "string"]],
        required: ["prompt"], output: .video, price: .perSecondOfOutput(0.07, durationInput: "duration"))

    public static let stableAudio25 = FakeModel(
        name: "stability-ai/stable-audio-2.5",
        input: ["prompt": ["type": "string"], "duration": ["type": "integer", "minimum": 1, "maximum": 190, "default": 8],
                "steps": ["type": "integer"], "cfg_scale": ["type": "number"], "seed": ["type": "integer"]],
        required: ["prompt"], output: .audio, price: .perOutput(0.2))

    /// Every model above but the music model (a test that wants a song generated adds `stableAudio25`).
    public static let all = [fluxSchnell, imagen4Fast, flux11Pro, wan22I2VFast, seedance1Lite, kling25TurboPro]
}
