import Foundation
import ReelCore
import ReelDraw

/// The offline picture of a plan: what each scene's prompt makes the procedural provider draw, recorded in the plan,
/// and the storyboard that shows one frame of each scene before anything is generated or paid for.
public enum Animatic {
    /// What the offline provider draws for `scene`: the scene vocabulary's mapping of its prompt, with the abstract
    /// motif named when the vocabulary knows none of its words.
    public static func visual(for scene: Scene, brief: Brief) -> SceneVisual {
        var visual = SceneVocabulary.visual(prompt: scene.prompt, palette: brief.palette, role: scene.role, mood: brief.mood + brief.style)
        if !visual.isScene { visual.abstractMotif = ProceduralRecipe.motif(for: scene).rawValue }
        return visual
    }

    /// The seed a scene is drawn with, the same for its animatic clip and its storyboard panel: from the run's seed,
    /// the scene's place and its prompt, so an edited prompt changes the picture even where it maps to the same layers.
    public static func drawingSeed(_ seed: UInt64, scene: Scene) -> UInt64 {
        seed ^ ContentHash.stableHash64("animatic-scene-\(scene.index)-\(scene.prompt)")
    }

    /// `plan` with `source.visual` recorded on every scene the procedural provider draws (and cleared on the others,
    /// so a plan edited to use another provider does not keep a stale record).
    public static func recordingVisuals(in plan: Plan) -> Plan {
        var plan = plan
        for i in plan.scenes.indices {
            let scene = plan.scenes[i]
            let procedural = scene.source.provider == SceneSource.procedural.provider && scene.source.model == SceneSource.procedural.model
            plan.scenes[i].source.visual = procedural ? visual(for: scene, brief: plan.brief) : nil
        }
        return plan
    }

    /// The storyboard of `plan`: one panel per scene, drawn as the animatic draws it.
    public static func storyboard(for plan: Plan) -> Storyboard {
        let panels = plan.scenes.map { scene in
            Storyboard.Panel(scene: scene, visual: visual(for: scene, brief: plan.brief), seed: drawingSeed(plan.seed, scene: scene))
        }
        let title = String(format: "%@ — %d scenes, %.1f s, seed %llu", plan.brief.prompt, plan.scenes.count, plan.duration, plan.seed)
        return Storyboard(title: title, aspect: plan.brief.aspect, panels: panels)
    }
}
