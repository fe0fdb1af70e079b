import Foundation
import ReelCore

/// Where a storyboard's panels go: a grid of pictures of the video's shape, each with a caption below it.
public struct StoryboardLayout: Sendable, Hashable {
    public var columns: Int
    public var rows: Int
    public var pictureWidth: Int
    public var pictureHeight: Int
    public var captionHeight: Int
    public var margin: Int
    public var headerHeight: Int
    public var width: Int { margin + columns * (pictureWidth + margin) }
    public var height: Int { headerHeight + margin + rows * (pictureHeight + captionHeight + margin) }

    /// A grid for `count` panels of `aspect`: four across for wide pictures, six for tall ones.
    public init(count: Int, aspect: AspectRatio) {
        // The draft preset's frame gives the shape; panels are about a sixth of it.
        let shape = Preset.draft.frameSize(aspect)
        let landscape = shape.width > shape.height
        pictureHeight = landscape ? 180 : 284
        pictureWidth = max(120, Int((Double(pictureHeight) * Double(shape.width) / Double(shape.height)).rounded()))
        columns = max(1, min(count, landscape ? 4 : 6))
        rows = max(1, (count + columns - 1) / columns)
        captionHeight = 92
        margin = 16
        headerHeight = 40
    }

    /// Panel `index`'s picture: x, y, width, height in pixels.
    public func picture(_ index: Int) -> (x: Int, y: Int, width: Int, height: Int) {
        let col = index % columns, row = index / columns
        return (margin + col * (pictureWidth + margin), headerHeight + margin + row * (pictureHeight + captionHeight + margin),
                pictureWidth, pictureHeight)
    }
}

/// A plan drawn as one picture per scene, with each scene's time, prompt, reason and transition: the animatic's
/// frames before anything is generated or paid for.
public struct Storyboard: Sendable {
    /// One scene's panel.
    public struct Panel: Sendable {
        public var scene: Scene
        /// What the scene draws (an abstract scene is shown as its palette's gradient).
        public var visual: SceneVisual
        public var seed: UInt64
        public init(scene: Scene, visual: SceneVisual, seed: UInt64) { self.scene = scene; self.visual = visual; self.seed = seed }
    }

    public var title: String
    public var panels: [Panel]
    public var layout: StoryboardLayout

    public init(title: String, aspect: AspectRatio, panels: [Panel]) {
        self.title = title; self.panels = panels
        layout = StoryboardLayout(count: panels.count, aspect: aspect)
    }

    /// Draws the whole board.
    public func render() -> Canvas {
        let canvas = Canvas(width: layout.width, height: layout.height)
        let background = Colour(0.09, 0.09, 0.11)
        canvas.colour(background); canvas.rect(0, 0, Double(layout.width), Double(layout.height)); canvas.fill()
        canvas.font(size: 17, bold: true)
        canvas.colour(Colour(0.95, 0.95, 0.95))
        canvas.text(canvas.fitted(title, width: Double(layout.width - 2 * layout.margin), suffix: "…"), Double(layout.margin), 30)
        for (i, panel) in panels.enumerated() { draw(panel, at: i, on: canvas) }
        return canvas
    }

    /// Draws and writes the board as a PNG at `path` (the caller renames it into place).
    public func writePNG(to path: String) throws { try render().writePNG(to: path) }

    /// Draws the board as PNG bytes (for the API).
    public func png() throws -> Data { try render().png() }

    func draw(_ panel: Panel, at index: Int, on canvas: Canvas) {
        let p = layout.picture(index)
        let (x, y, w, h) = (Double(p.x), Double(p.y), Double(p.width), Double(p.height))
        // The picture: the scene's middle frame, drawn at panel size.
        let frames = max(1, FrameClock.frame(at: panel.scene.end) - FrameClock.frame(at: panel.scene.start))
        let picture = Canvas(width: p.width, height: p.height)
        if panel.visual.isScene {
            SceneDrawing(visual: panel.visual, width: p.width, height: p.height, frames: frames, seed: panel.seed, energy: [],
                         fallbackEnergy: panel.scene.energy).draw(frame: frames / 2, on: picture)
        } else {
            abstract(panel.visual, on: picture)
        }
        canvas.save()
        canvas.rect(x, y, w, h); canvas.clip()
        canvas.paint(picture, x: x, y: y)
        canvas.restore()
        // The caption, clipped to its panel so long prompts never spill into a neighbour.
        canvas.save()
        let cy = y + h
        canvas.rect(x, cy, w, Double(layout.captionHeight)); canvas.clip()
        canvas.colour(Colour(0.16, 0.16, 0.19)); canvas.rect(x, cy, w, Double(layout.captionHeight)); canvas.fill()
        let pad = 6.0, textWidth = w - 2 * pad
        let s = panel.scene
        let transition = s.transition.map { $0.kind == .cut ? "cut" : String(format: "%@ %.2f s", $0.kind.rawValue, $0.duration) } ?? "end"
        canvas.font(size: 11, bold: true); canvas.colour(Colour(1, 0.85, 0.4))
        canvas.text(canvas.fitted(String(format: "%d  %.2f–%.2f s  → %@", s.index + 1, s.start, s.end, transition), width: textWidth, suffix: "…"),
                    x + pad, cy + 15)
        canvas.font(size: 10.5); canvas.colour(Colour(0.92, 0.92, 0.92))
        for (k, line) in canvas.wrapped(s.prompt, width: textWidth, maxLines: 4).enumerated() {
            canvas.text(line, x + pad, cy + 31 + Double(k) * 13.5)
        }
        canvas.font(size: 10); canvas.colour(Colour(0.6, 0.65, 0.72))
        canvas.text(canvas.fitted(s.reason, width: textWidth, suffix: "…"), x + pad, cy + Double(layout.captionHeight) - 7)
        canvas.restore()
    }

    /// An abstract scene's stand-in: its palette as a diagonal gradient with the motif's name.
    func abstract(_ visual: SceneVisual, on canvas: Canvas) {
        let colours = visual.palette.colors.map(Colour.init)
        let a = colours.first ?? Colour(0.2, 0.2, 0.4), b = colours.dropFirst().first ?? Colour(0.8, 0.3, 0.6)
        canvas.rect(0, 0, Double(canvas.width), Double(canvas.height))
        canvas.fillVertical(0, a, Double(canvas.height), b)
        canvas.font(size: 12, bold: true); canvas.colour(.white, 0.8)
        canvas.text("abstract: \(visual.abstractMotif ?? "motif")", 8, Double(canvas.height) - 10)
    }
}
