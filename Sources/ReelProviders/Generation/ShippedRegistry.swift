// The registry shipped with Reelsmith: every role mapped to a current Replicate model (../shared/reference/replicate-models.md),
// with input names, capabilities, prices (USD as published) and a fallback chain. It is Swift text rather than a bundle
// resource so that a copied `reelsmith` binary never loses it; `reelsmith models --json` prints it, and a file named by
// REELSMITH_REGISTRY overrides any role (see the README).
enum ShippedRegistry {
    static let json = #"""
{
  "version": 1,
  "roles": {
    "image.fast": [
      {"provider": "replicate", "model": "black-forest-labs/flux-schnell", "output": "image",
       "inputs": {"prompt": "prompt", "aspectRatio": "aspect_ratio", "seed": "seed"},
       "fixed": {"num_outputs": 1, "output_format": "png", "go_fast": true},
       "capabilities": {"aspectRatios": ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"], "seed": true},
       "price": {"unit": "image", "usd": 0.003},
       "notes": "keyframes for draft and preview; returns an array of one URL"},
      {"provider": "replicate", "model": "google/imagen-4-fast", "output": "image",
       "inputs": {"prompt": "prompt", "aspectRatio": "aspect_ratio"},
       "fixed": {"output_format": "png"},
       "capabilities": {"aspectRatios": ["1:1", "9:16", "16:9", "3:4", "4:3"]},
       "price": {"unit": "image", "usd": 0.02}}
    ],
    "image.quality": [
      {"provider": "replicate", "model": "black-forest-labs/flux-1.1-pro", "output": "image",
       "inputs": {"prompt": "prompt", "aspectRatio": "aspect_ratio", "seed": "seed"},
       "fixed": {"output_format": "png"},
       "capabilities": {"aspectRatios": ["1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3"], "seed": true},
       "price": {"unit": "image", "usd": 0.04}},
      {"provider": "replicate", "model": "black-forest-labs/flux-schnell", "output": "image",
       "inputs": {"prompt": "prompt", "aspectRatio": "aspect_ratio", "seed": "seed"},
       "fixed": {"num_outputs": 1, "output_format": "png"},
       "capabilities": {"aspectRatios": ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"], "seed": true},
       "price": {"unit": "image", "usd": 0.003}}
    ],
    "video.draft": [
      {"provider": "replicate", "model": "wan-video/wan-2.2-i2v-fast", "output": "video",
       "inputs": {"prompt": "prompt", "firstFrame": "image", "lastFrame": "last_image", "resolution": "resolution", "seed": "seed"},
       "fixed": {"num_frames": 81, "frames_per_second": 16, "go_fast": true},
       "capabilities": {"firstFrame": true, "firstFrameRequired": true, "lastFrame": true, "durations": [5.0625],
                        "resolutions": {"draft": "480p", "preview": "720p", "final": "720p"}, "seed": true},
       "price": {"unit": "video", "usd": 0.05, "byResolution": {"480p": 0.05, "720p": 0.11}},
       "notes": "81 frames at 16 fps (5.06 s); the aspect ratio follows the keyframe"},
      {"provider": "replicate", "model": "bytedance/seedance-1-lite", "output": "video",
       "inputs": {"prompt": "prompt", "firstFrame": "image", "lastFrame": "last_frame_image", "duration": "duration",
                  "resolution": "resolution", "aspectRatio": "aspect_ratio", "seed": "seed"},
       "fixed": {"fps": 24},
       "capabilities": {"firstFrame": true, "lastFrame": true, "durationRange": [2, 12],
                        "aspectRatios": ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"],
                        "resolutions": {"draft": "480p", "preview": "720p", "final": "1080p"}, "seed": true},
       "price": {"unit": "second", "usd": 0.018, "byResolution": {"480p": 0.018, "720p": 0.036, "1080p": 0.072}}}
    ],
    "video.final": [
      {"provider": "replicate", "model": "kwaivgi/kling-v2.5-turbo-pro", "output": "video",
       "inputs": {"prompt": "prompt", "negativePrompt": "negative_prompt", "firstFrame": "start_image", "duration": "duration", "aspectRatio": "aspect_ratio"},
       "capabilities": {"firstFrame": true, "durations": [5, 10], "aspectRatios": ["16:9", "9:16", "1:1"]},
       "price": {"unit": "second", "usd": 0.07},
       "notes": "1080p; aspect_ratio is ignored when a start image is given"},
      {"provider": "replicate", "model": "bytedance/seedance-1-pro", "output": "video",
       "inputs": {"prompt": "prompt", "firstFrame": "image", "lastFrame": "last_frame_image", "duration": "duration",
                  "resolution": "resolution", "aspectRatio": "aspect_ratio", "seed": "seed"},
       "fixed": {"fps": 24},
       "capabilities": {"firstFrame": true, "lastFrame": true, "durationRange": [2, 12],
                        "aspectRatios": ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"],
                        "resolutions": {"draft": "480p", "preview": "720p", "final": "1080p"}, "seed": true},
       "price": {"unit": "second", "usd": 0.15, "byResolution": {"480p": 0.03, "720p": 0.06, "1080p": 0.15}}}
    ],
    "video.interpolate": [
      {"provider": "replicate", "model": "bytedance/seedance-1-lite", "output": "video",
       "inputs": {"prompt": "prompt", "firstFrame": "image", "lastFrame": "last_frame_image", "duration": "duration",
                  "resolution": "resolution", "aspectRatio": "aspect_ratio", "seed": "seed"},
       "fixed": {"fps": 24},
       "capabilities": {"firstFrame": true, "firstFrameRequired": true, "lastFrame": true, "durationRange": [2, 12],
                        "aspectRatios": ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"],
                        "resolutions": {"draft": "480p", "preview": "720p", "final": "1080p"}, "seed": true},
       "price": {"unit": "second", "usd": 0.018, "byResolution": {"480p": 0.018, "720p": 0.036, "1080p": 0.072}}},
      {"provider": "replicate", "model": "wan-video/wan-2.2-i2v-fast", "output": "video",
       "inputs": {"prompt": "prompt", "firstFrame": "image", "lastFrame": "last_image", "resolution": "resolution", "seed": "seed"},
       "fixed": {"num_frames": 81, "frames_per_second": 16, "go_fast": true},
       "capabilities": {"firstFrame": true, "firstFrameRequired": true, "lastFrame": true, "durations": [5.0625],
                        "resolutions": {"draft": "480p", "preview": "720p", "final": "720p"}, "seed": true},
       "price": {"unit": "video", "usd": 0.05, "byResolution": {"480p": 0.05, "720p": 0.11}}}
    ],
    "music": [
      {"provider": "replicate", "model": "stability-ai/stable-audio-2.5", "output": "audio",
       "inputs": {"prompt": "prompt", "duration": "duration", "seed": "seed"},
       "capabilities": {"durationRange": [1, 190], "seed": true},
       "price": {"unit": "run", "usd": 0.2}},
      {"provider": "replicate", "model": "google/lyria-2", "output": "audio",
       "inputs": {"prompt": "prompt", "negativePrompt": "negative_prompt", "seed": "seed"},
       "capabilities": {"durations": [30], "seed": true},
       "price": {"unit": "second", "usd": 0.002}}
    ],
    "speech": [
      {"provider": "replicate", "model": "minimax/speech-02-turbo", "output": "audio",
       "inputs": {"prompt": "text"},
       "fixed": {"voice_id": "Wise_Woman"},
       "price": {"unit": "character", "usd": 0.00006}},
      {"provider": "replicate", "model": "resemble-ai/chatterbox", "output": "audio",
       "inputs": {"prompt": "prompt", "seed": "seed"},
       "capabilities": {"seed": true},
       "price": {"unit": "character", "usd": 0.000025}}
    ],
    "llm.planner": [
      {"provider": "replicate", "model": "meta/meta-llama-3-70b-instruct", "output": "text",
       "inputs": {"prompt": "prompt", "system": "system_prompt", "maxTokens": "max_tokens", "temperature": "temperature"},
       "price": {"unit": "token", "usd": 0, "inputPerMillion": 0.65, "outputPerMillion": 2.75}},
      {"provider": "replicate", "model": "meta/meta-llama-3-8b-instruct", "output": "text",
       "inputs": {"prompt": "prompt", "system": "system_prompt", "maxTokens": "max_tokens", "temperature": "temperature"},
       "price": {"unit": "token", "usd": 0, "inputPerMillion": 0.05, "outputPerMillion": 0.25}}
    ],
    "llm.critic": [
      {"provider": "replicate", "model": "meta/meta-llama-3-70b-instruct", "output": "text",
       "inputs": {"prompt": "prompt", "system": "system_prompt", "maxTokens": "max_tokens", "temperature": "temperature"},
       "price": {"unit": "token", "usd": 0, "inputPerMillion": 0.65, "outputPerMillion": 2.75}}
    ],
    "vision.critic": [
      {"provider": "replicate", "model": "openai/gpt-5-mini", "output": "text",
       "inputs": {"prompt": "prompt", "system": "system_prompt", "image": "image_input"},
       "price": {"unit": "token", "usd": 0, "inputPerMillion": 0.25, "outputPerMillion": 2.0}}
    ],
    "upscale": [
      {"provider": "replicate", "model": "recraft-ai/recraft-crisp-upscale", "output": "image",
       "inputs": {"image": "image"},
       "price": {"unit": "image", "usd": 0.006}}
    ]
  },
  "llmPrices": {
    "claude-sonnet-4-5": {"unit": "token", "usd": 0, "inputPerMillion": 3.0, "outputPerMillion": 15.0},
    "claude-haiku-4-5": {"unit": "token", "usd": 0, "inputPerMillion": 1.0, "outputPerMillion": 5.0},
    "gpt-4o-mini": {"unit": "token", "usd": 0, "inputPerMillion": 0.15, "outputPerMillion": 0.6},
    "gpt-5-mini": {"unit": "token", "usd": 0, "inputPerMillion": 0.25, "outputPerMillion": 2.0},
    "gpt-5": {"unit": "token", "usd": 0, "inputPerMillion": 1.25, "outputPerMillion": 10.0}
  }
}
"""#
}
