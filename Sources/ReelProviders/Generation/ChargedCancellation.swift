import Foundation

/// A call was cancelled (its job canceled, its worker stopping) after its prediction had already succeeded: the
/// provider charges for it although nobody will read it. The caller meters the charge and then stops as for any
/// cancellation; the prediction stays noted in flight, so a run that resumes the job follows it instead of paying again.
public struct ChargedCancellation: Error, Sendable, Equatable {
    public var predictionId: String
    public init(predictionId: String) { self.predictionId = predictionId }
}
