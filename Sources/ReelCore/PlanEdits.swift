import Foundation

extension Plan {
    /// The plan with scene `index` given a new prompt and/or length (a user's edit in the workspace).
    /// A new length moves the cut between the scene and the next one, on a frame, so the video keeps its length (and
    /// its place on the song); it throws `.badInput` for the last scene, whose end is the video's, and when the next
    /// scene or a transition would not fit.
    public func editingScene(_ index: Int, prompt: String? = nil, duration: Double? = nil) throws -> Plan {
        guard scenes.indices.contains(index) else {
            throw ReelError(.badInput, "the plan has no scene \(index) (it has \(scenes.count))")
        }
        var edited = self
        if let prompt {
            let trimmed = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty, trimmed.count <= 4000 else { throw ReelError(.badInput, "a scene's prompt must be 1 to 4000 characters") }
            edited.scenes[index].prompt = trimmed
        }
        if let duration {
            guard duration.isFinite, duration > 0 else { throw ReelError(.badInput, "a scene's duration must be a positive number of seconds") }
            let scene = scenes[index]
            let newEnd = FrameClock.snap(scene.start + duration)
            if FrameClock.frame(at: newEnd) != FrameClock.frame(at: scene.end) {
                guard index + 1 < scenes.count else {
                    throw ReelError(.badInput, "the last scene's length follows the video's duration; change the project's duration instead")
                }
                let minimum = 2.0 / Double(FrameClock.fps)
                let latest = scenes[index + 1].end - minimum
                guard newEnd >= minimum - 1e-9, newEnd - scene.start >= minimum - 1e-9, newEnd <= latest + 1e-9 else {
                    throw ReelError(.badInput, String(format: "scene %d can last from %.3f s to %.3f s (the next scene keeps at least 2 frames)",
                                                      index, minimum, latest - scene.start))
                }
                edited.scenes[index].end = newEnd
                edited.scenes[index + 1].start = newEnd
            }
        }
        do {
            // Media paths in a stored plan belong to the worker that made it, so only the timing is checked here.
            try edited.validate(checkingMedia: false)
        } catch let error as ReelError where error.code == .badPlan {
            throw ReelError(.badInput, "that edit does not fit: \(error.message)")
        }
        return edited
    }
}
