/// The times a cut may land on, with the snapping rules the planner and plan validation share.
public struct BeatGrid: Sendable {
    public let beats: [Double]
    public let downbeats: [Double]

    public init(beats: [Double], downbeats: [Double]) {
        self.beats = beats.sorted()
        self.downbeats = downbeats.sorted()
    }

    /// The element of a sorted array nearest to `t`, by binary search.
    public static func nearest(to t: Double, in sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        if lo == 0 { return sorted[0] }
        if lo == sorted.count { return sorted[sorted.count - 1] }
        return (t - sorted[lo - 1] <= sorted[lo] - t) ? sorted[lo - 1] : sorted[lo]
    }

    /// `t` moved to the nearest downbeat (or beat) within `tolerance` seconds, then rounded to a frame.
    public func snap(_ t: Double, tolerance: Double, preferDownbeats: Bool = true) -> Double {
        if preferDownbeats, let d = Self.nearest(to: t, in: downbeats), abs(d - t) <= tolerance {
            return FrameClock.snap(d)
        }
        if let b = Self.nearest(to: t, in: beats), abs(b - t) <= tolerance { return FrameClock.snap(b) }
        return FrameClock.snap(t)
    }

    /// Whether `t` lies within `tolerance` of a beat.
    public func isOnBeat(_ t: Double, tolerance: Double) -> Bool {
        guard let b = Self.nearest(to: t, in: beats) else { return false }
        return abs(b - t) <= tolerance
    }

    /// The index of the downbeat nearest to `t` (for phrase positions), if one lies within `tolerance`.
    public func downbeatIndex(near t: Double, tolerance: Double) -> Int? {
        guard let d = Self.nearest(to: t, in: downbeats), abs(d - t) <= tolerance else { return nil }
        return downbeats.firstIndex(of: d)
    }
}
