import Foundation
import ReelCore
import ReelMedia
import ReelPipeline
import ReelProviders
import ReelStore
import Synchronization

/// Builds one run's pipeline around its progress sink, spending limit (USD, nil for none) and scratch folder; the
/// providers behind it are set up once per worker (see `reelsmith worker`).
public typealias PipelineFactory = @Sendable (_ progress: any ProgressSink, _ budget: Double?, _ scratch: String) throws -> ClassicPipeline

/// Takes jobs from the durable queue and runs them: claims with a lease and renews it, resumes from checkpoints, reports
/// progress as job events, stores the video, manifest and thumbnail, retries with backoff, stops promptly on cancel and
/// drains on request (the current stage finishes, or the lease is released after a grace period).
public final class JobWorker: Sendable {
    public let settings: WorkerSettings
    let store: ServiceStore
    let objects: any ObjectStore
    let makePipeline: PipelineFactory
    let runner: any ProcessRunner
    let log: @Sendable (String) -> Void

    private struct State {
        var draining = false
        /// Wakes the running job's drain timer.
        var drainSignal: AsyncStream<Void>.Continuation?
        var jobsRun = 0
    }
    private let state = Mutex(State())

    public init(store: ServiceStore, objects: any ObjectStore, settings: WorkerSettings, runner: any ProcessRunner = SubprocessRunner(),
                log: @escaping @Sendable (String) -> Void = JobWorker.standardErrorLog, makePipeline: @escaping PipelineFactory) {
        self.store = store; self.objects = objects; self.settings = settings; self.runner = runner; self.log = log
        self.makePipeline = makePipeline
    }

    /// Writes `reelsmith: worker: <line>` to standard error.
    public static let standardErrorLog: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data("reelsmith: worker: \(line)\n".utf8))
    }

    /// Turns errors and warnings into what users are shown: no scratch paths or other private names.
    var userFacing: UserFacingMessages { UserFacingMessages(privateTexts: [settings.scratchRoot] + settings.privateTexts) }

    /// True once `drain()` was called: no job is claimed any more.
    public var isDraining: Bool { state.withLock { $0.draining } }
    /// Jobs this worker claimed so far.
    public var jobsRun: Int { state.withLock { $0.jobsRun } }

    /// Stops claiming; the current job finishes its current stage (at most `drainGrace`), then completes or goes back
    /// to the queue. `run()` returns once that is done.
    public func drain() {
        let signal = state.withLock { s -> AsyncStream<Void>.Continuation? in
            s.draining = true
            return s.drainSignal
        }
        signal?.yield()
    }

    /// Claims and runs jobs until `drain()` was called (or the task is cancelled, which drains the current job).
    public func run() async {
        log("\(settings.name) waiting for jobs (lease \(settings.lease.seconds) s)")
        await removeLeftoverScratch()
        while !isDraining && !Task.isCancelled {
            var ran = false
            do { ran = try await runNext() } catch { log("cannot claim a job: \(error)") }
            if !ran { try? await Task.sleep(for: settings.pollInterval) }
        }
    }

    /// Claims one ready job and runs it to its end (or its release); false when none was ready.
    @discardableResult
    public func runNext() async throws -> Bool {
        guard !isDraining, let job = try await store.claimJob(worker: settings.name, lease: settings.lease) else { return false }
        state.withLock { $0.jobsRun += 1 }
        await process(job)
        return true
    }

    // MARK: - One job

    /// Why a run stopped before it ended by itself.
    enum StopReason: Sendable, Equatable {
        /// The user canceled the job.
        case canceled
        /// Another worker holds the job now (our lease expired): write nothing more.
        case lost
        /// This worker is draining: the job goes back to the queue.
        case drained
    }

    /// What one attempt came to.
    enum RunEnd: Sendable {
        /// Done: the stored outputs, and the seconds each stage took (for later ETAs).
        case succeeded(JobOutputs, stageSeconds: [Stage: Double])
        case failed(any Error)
        case stopped(StopReason)
    }

    func process(_ job: JobRecord) async {
        let scratch = (settings.scratchRoot as NSString).appendingPathComponent("job-\(job.id.uuidString.lowercased())-\(job.attempts)")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let (drainSignals, drainIn) = AsyncStream<Void>.makeStream()
        let (writes, writesIn) = AsyncStream<JobWrite>.makeStream()
        let drainingAlready = state.withLock { s -> Bool in
            s.drainSignal = drainIn
            return s.draining
        }
        if drainingAlready { drainIn.yield() }
        defer { state.withLock { $0.drainSignal = nil } }

        let costs = CostRecorder(store: store, job: job)
        log("job \(job.id) (\(job.kind.rawValue), attempt \(job.attempts)) claimed")
        let end: RunEnd = await withTaskGroup(of: Void.self) { writer in
            writer.addTask { await self.write(writes, job: job, costs: costs) }
            let end = await attempt(job, scratch: scratch, writes: writesIn, drainSignals: drainSignals, costs: costs)
            writesIn.finish()
            await writer.waitForAll()
            return end
        }
        await conclude(job, end, costs: costs)
    }

    /// Stores what the sink queued, in order, while the job runs.
    func write(_ writes: AsyncStream<JobWrite>, job: JobRecord, costs: CostRecorder) async {
        for await item in writes {
            do {
                switch item {
                case .event(let type, let data):
                    _ = try await store.appendEvent(jobId: job.id, projectId: job.projectId, type: type, data: data)
                case .progress(let stage, let percent, let eta):
                    try await store.updateProgress(jobId: job.id, worker: settings.name, stage: stage, progress: percent, etaSeconds: eta)
                case .costs:
                    try await costs.flush()
                }
            } catch {
                log("job \(job.id): cannot store \(item): \(error)")
            }
        }
    }

    /// Runs the pipeline under the lease, then stores the outputs (still under the lease, no longer drainable).
    func attempt(_ job: JobRecord, scratch: String, writes: AsyncStream<JobWrite>.Continuation, drainSignals: AsyncStream<Void>,
                 costs: CostRecorder) async -> RunEnd {
        let checkpoints = StoreCheckpoints(store: store, objects: objects, run: Self.runKey(job), projectId: job.projectId)
        let resumed = (try? await checkpoints.savedPlan()) != nil
        // No worker name: which machine runs a job is the operator's business (it is in the log).
        writes.yield(.event(.jobStarted, ["attempt": .number(Double(job.attempts)), "kind": .string(job.kind.rawValue),
                                          "resumed": .bool(resumed)]))
        writes.yield(.progress(stage: nil, percent: 0, eta: nil))
        let averages = (try? await store.averageStageSeconds()) ?? [:]
        let (boundaries, boundaryIn) = AsyncStream<Void>.makeStream()
        let progress = JobProgress(writes: writes, averages: averages, videoSeconds: 0, messages: userFacing,
                                   log: { [log] in log("job \(job.id): \($0)") }) { [weak self] stage in
            // A draining worker stops once a stage is finished, but lets the last one (compose) complete the job.
            if stage != .compose, self?.isDraining == true { boundaryIn.yield() }
        }
        let run: Leased<Prepared> = await leased(job, boundaries: boundaries, drainSignals: drainSignals) {
            let prepared = try await self.prepare(job, scratch: scratch, progress: progress, checkpoints: checkpoints)
            // Every paid call also holds its price in the user's budget, which their other running jobs share.
            await prepared.pipeline.meter.holdSpending(in: self.store.spendLedger(userId: job.userId, jobId: job.id))
            await costs.attach(prepared.pipeline.meter)
            progress.setVideoSeconds(prepared.videoSeconds)
            var done = prepared
            done.outcome = try await prepared.pipeline.generate(prepared.request, checkpoints: checkpoints)
            return done
        }
        boundaryIn.finish()
        let prepared: Prepared
        switch run {
        case .stopped(let reason): return .stopped(reason)
        case .failed(let error): return .failed(error)
        case .finished(let value): prepared = value
        }
        let stored: Leased<JobOutputs> = await leased(job, boundaries: nil, drainSignals: nil) {
            try await self.storeOutputs(job, prepared, checkpoints: checkpoints, scratch: scratch, progress: progress)
        }
        switch stored {
        case .finished(let outputs): return .succeeded(outputs, stageSeconds: progress.stageSeconds)
        case .failed(let error): return .failed(error)
        case .stopped(let reason): return .stopped(reason)
        }
    }

    /// Writes the end of an attempt: done, failed (retried with backoff or not), canceled, or back in the queue. The
    /// store writes each end with its event in one transaction.
    func conclude(_ job: JobRecord, _ end: RunEnd, costs: CostRecorder) async {
        let worker = settings.name
        do {
            // Money spent is counted however the attempt ended (not when another worker owns the job now: it was flushed
            // at each finished scene, and what the rest cost stays held in the user's budget as settled holds).
            if case .stopped(.lost) = end {} else { try? await costs.flush() }
            switch end {
            case .succeeded(let outputs, let stageSeconds):
                try await store.completeJob(jobId: job.id, worker: worker, outputs: outputs, stageSeconds: stageSeconds)
                log("job \(job.id) succeeded")
            case .failed(let error):
                if error is CancellationError || (error as? ReelError)?.code == .cancelled, Task.isCancelled || isDraining {
                    // The worker itself was stopped (its task cancelled, or draining): the job goes back to the queue
                    // without counting the attempt. A cancellation the job raised by itself counts as a failed attempt,
                    // so it cannot go round forever.
                    try await release(job)
                    return
                }
                let failure = userFacing.failure(error)
                let retryable = Self.isRetryable(error)
                let updated = try await store.failJob(jobId: job.id, worker: worker, failure: failure, retryable: retryable)
                // The log has everything: the message as thrown and its cause (paths, hosts, ffmpeg's output).
                let detail = Self.logDetail(error)
                if updated.status == .queued {
                    log("job \(job.id) attempt \(job.attempts) failed (\(detail)); retrying")
                } else {
                    log("job \(job.id) failed: \(detail)")
                }
            case .stopped(.canceled):
                try await store.markCanceled(jobId: job.id, worker: worker)
                log("job \(job.id) canceled")
            case .stopped(.drained):
                try await release(job)
            case .stopped(.lost):
                log("job \(job.id): lease lost; another worker has it")
            }
        } catch {
            log("job \(job.id): cannot record the end of attempt \(job.attempts): \(error)")
        }
    }

    func release(_ job: JobRecord) async throws {
        try await store.releaseJob(jobId: job.id, worker: settings.name)
        log("job \(job.id) released")
    }

    /// An error as the log shows it: code, message and underlying cause.
    static func logDetail(_ error: any Error) -> String {
        guard let e = error as? ReelError else { return String(reflecting: error) }
        return "\(e.code.rawValue): \(e.message)" + (e.cause.map { " (cause: \(String(reflecting: $0)))" } ?? "")
    }

    /// Budget refusals and faults in what the user gave are final; anything else (providers, network, ffmpeg) is retried.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let e = error as? ReelError else { return true }
        return !e.isUserInput && e.code != .budgetExceeded
    }


    /// Checkpoints belong to a run: the job, or the job it retries (a retry resumes what the failed job finished).
    /// Checkpoints of a job and its retries; it starts with the project's id, so deleting the project deletes them.
    static func runKey(_ job: JobRecord) -> String {
        "\(job.projectId.uuidString.lowercased())/job-\((job.retryOf ?? job.id).uuidString.lowercased())"
    }

    // MARK: - Lease

    /// How work under a lease ended.
    enum Leased<T: Sendable>: Sendable {
        case finished(T)
        case failed(any Error)
        case stopped(StopReason)
    }

    private enum Child<T: Sendable>: Sendable {
        case done(Result<T, any Error>)
        case stop(StopReason)
        case idle
    }

    /// Runs `work` while the lease is renewed every `renewInterval`; a lost lease or a cancel request cancels it at once.
    /// With `boundaries`, a signal there (a stage finished while draining) stops it; with `drainSignals`, a drain
    /// stops it after `drainGrace` at the latest.
    func leased<T: Sendable>(_ job: JobRecord, boundaries: AsyncStream<Void>?, drainSignals: AsyncStream<Void>?,
                             work: @escaping @Sendable () async throws -> T) async -> Leased<T> {
        await withTaskGroup(of: Child<T>.self) { group in
            group.addTask {
                do { return .done(.success(try await work())) } catch { return .done(.failure(error)) }
            }
            group.addTask { await self.renew(job) }
            if let boundaries {
                group.addTask {
                    for await _ in boundaries { return .stop(.drained) }
                    return .idle
                }
            }
            if let drainSignals {
                let grace = settings.drainGrace
                group.addTask {
                    var woken = false
                    for await _ in drainSignals { woken = true; break }
                    guard woken, (try? await Task.sleep(for: grace)) != nil else { return .idle }
                    return .stop(.drained)
                }
            }
            var stop: StopReason?
            var result: Result<T, any Error>?
            while let child = await group.next() {
                switch child {
                case .done(let r):
                    result = r
                    group.cancelAll()
                case .stop(let reason):
                    if stop == nil, result == nil {
                        stop = reason
                        group.cancelAll()
                    }
                case .idle:
                    break
                }
            }
            if let stop { return .stopped(stop) }
            switch result {
            case .success(let value): return .finished(value)
            case .failure(let error): return .failed(error)
            case nil: return .failed(CancellationError())
            }
        }
    }

    /// Renews the lease until cancelled; returns a stop when the lease is lost or a cancel was requested.
    private func renew<T: Sendable>(_ job: JobRecord) async -> Child<T> {
        var lastHeld = ContinuousClock.now
        while true {
            guard (try? await Task.sleep(for: settings.renewInterval)) != nil else { return .idle }
            do {
                switch try await store.renewLease(jobId: job.id, worker: settings.name, lease: settings.lease) {
                case .held: lastHeld = .now
                case .lost: return .stop(.lost)
                case .cancelRequested: return .stop(.canceled)
                }
            } catch {
                if Task.isCancelled { return .idle }
                log("job \(job.id): cannot renew the lease: \(error)")
                // Without a renewal for a whole lease, another worker may have the job: stop writing.
                if ContinuousClock.now - lastHeld > settings.lease { return .stop(.lost) }
            }
        }
    }
}

/// Records what the run spends as it goes (at each finished scene and at the end), so spending survives a dead worker.
actor CostRecorder {
    let store: ServiceStore
    let job: JobRecord
    private var meter: CostMeter?
    private var recorded = 0

    init(store: ServiceStore, job: JobRecord) { self.store = store; self.job = job }

    func attach(_ meter: CostMeter) { self.meter = meter }

    /// Stores the calls recorded since the last flush, closing the budget holds they settle in the same transaction.
    func flush() async throws {
        guard let meter else { return }
        let (new, holds) = await meter.recorded(after: recorded)
        guard !new.isEmpty else { return }
        let before = recorded
        recorded += new.count
        do {
            try await store.recordCosts(projectId: job.projectId, jobId: job.id, userId: job.userId, entries: new, closingHolds: holds)
        } catch {
            recorded = before
            throw error
        }
    }
}
