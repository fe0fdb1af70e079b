import Foundation

extension Plan {
    /// The plan with scene `index` given a new prompt and/or length (a user's edit in the workspace).
    /// A new length moves the scene's end cut and every later scene with it, on frames, so the video grows or shrinks;
    /// it throws `.badPlan` when the scene would be shorter than its transitions allow or the video longer than the song.
    public func editingScene(_ index: Int, prompt: String? = nil, duration: Double? = nil, songDuration: Double? = nil) throws -> Plan {
        guard scenes.indices.contains(index) else {
            throw ReelError(.badInput, "the plan has no scene \(index) (it has \(scenes.count))")
        }
        var edited = self
        if let prompt {
            let trimmed = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw ReelError(.badInput, "a scene's prompt cannot be empty") }
            edited.scenes[index].prompt = trimmed
        }
        if let duration {
            guard duration.isFinite, duration > 0 else { throw ReelError(.badInput, "a scene's duration must be a positive number of seconds") }
            let scene = scenes[index]
            let newEnd = FrameClock.snap(scene.start + duration)
            let shift = newEnd - scene.end
            edited.scenes[index].end = newEnd
            for later in scenes.indices where later > index {
                edited.scenes[later].start = FrameClock.snap(scenes[later].start + shift)
                edited.scenes[later].end = FrameClock.snap(scenes[later].end + shift)
            }
            edited.duration = FrameClock.snap(self.duration + shift)
            if let songDuration, songStart + edited.duration > songDuration + 0.05 {
                throw ReelError(.badPlan, String(format: "with scene %d at %.2f s the video would run to %.2f s of the song, which is only %.2f s long",
                                                 index, duration, songStart + edited.duration, songDuration))
            }
        }
        // Media paths in a stored plan belong to the worker that made it, so only the timing is checked here.
        try edited.validate(checkingMedia: false)
        return edited
    }
}
