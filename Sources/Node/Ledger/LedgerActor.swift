import Foundation
import LedgerStore
import Transport
import Wire

/// The node's ledger (DESIGN §3): opens `<town>/.beads` as its one writer at start and holds it for as long as
/// the node runs, so no `gt`/`bd` process opens the store while the node serves. It hands the open store to the
/// node's other parts through `ledger` (the town workflow, the sync component) and runs the CLI's command lines
/// (`NodeCommandRequest`, local only) with the injected `NodeCommandExecutor` against it.
///
/// What opening found wrong (a torn write cut, damaged snapshots set aside) is logged as warnings and recorded
/// as one `ledger_recovery` event. At stop the handle is cleared first (new commands are told to retry), the
/// commands running are waited for (bounded by the component stop timeout), then the store is closed.
///
/// `Sendable`: an actor.
public actor LedgerActor: NodeComponent {
    public nonisolated let name = "ledger"
    public nonisolated var messageTypes: [MessageDescriptor] { [NodeCommandRequest.descriptor] }
    /// The held store, for the node's other components.
    public nonisolated let ledger: NodeLedgerHandle
    let executor: (any NodeCommandExecutor)?
    /// How long opening waits for the store's lock (an embedded command finishing). Default 30 s.
    let lockWait: Duration
    var context: NodeContext?
    var running = 0
    var idleWaiters: [CheckedContinuation<Void, Never>] = []

    /// A ledger actor running commands with `executor` (nil: it holds the store but refuses command requests).
    public init(
        executor: (any NodeCommandExecutor)? = nil, handle: NodeLedgerHandle = NodeLedgerHandle(),
        lockWait: Duration = .seconds(30)
    ) {
        self.executor = executor
        self.ledger = handle
        self.lockWait = lockWait
    }

    public func start(in context: NodeContext) async throws {
        self.context = context
        let layout = StoreLayout(beadsDirectory: context.town.root + "/.beads")
        var settings = LedgerDatabaseSettings()
        settings.store.lockWaitTimeout = lockWait
        let configured = settings
        let opened: Result<LedgerDatabase, LedgerDatabaseError> = await DedicatedThread.run(name: "ledger-open") {
            do throws(LedgerDatabaseError) {
                return .success(try LedgerDatabase.open(layout, settings: configured, mode: .write))
            } catch {
                return .failure(error)
            }
        }
        switch opened {
        case .success(let database):
            Self.reportRecovery(database.recovery, context: context)
            context.log.info(
                "ledger open", ["store": layout.root, "scopes": "\(database.read { $0.scopeNames.count })"])
            ledger.set(database)
        case .failure(let error):
            ledger.set(nil, error: error.description)
            context.log.error("cannot open the town ledger", ["store": layout.root, "error": error.description])
            throw error
        }
    }

    /// Logs each recovery warning and records them as one `ledger_recovery` event.
    static func reportRecovery(_ report: LedgerStore.RecoveryReport, context: NodeContext) {
        let lines = report.warnings
        guard !lines.isEmpty else { return }
        for line in lines { context.log.warning("town ledger recovery", ["detail": line]) }
        var fields = ["detail": lines.joined(separator: " | ")]
        if let tail = report.tail {
            fields["segment"] = tail.segment
            fields["cut_bytes"] = "\(tail.damagedBytes)"
            fields["records"] = "\(tail.records)"
            fields["acknowledged_records"] = "\(tail.acknowledgedRecords)"
            fields["kept_at"] = tail.keptAt ?? ""
        }
        context.events.record("ledger_recovery", fields)
    }

    public func stop() async {
        let database = ledger.database
        ledger.set(nil)
        while running > 0 {
            await withCheckedContinuation { idleWaiters.append($0) }
        }
        if let database { await DedicatedThread.run(name: "ledger-close") { database.close() } }
    }

    public func handle(_ message: InboundMessage) async throws -> [UInt8] {
        guard message.peer.purpose == .local else {
            throw ErrorReply(code: .refused, message: "command requests come only from the local CLI")
        }
        let request = try NodeJSON.decode(NodeCommandRequest.self, from: message.envelope.body)
        guard let executor else {
            throw ErrorReply(code: .refused, message: "this node runs no commands (started without a command runner)")
        }
        guard ledger.database != nil else {
            throw ErrorReply(
                code: .unavailable,
                message: "the town ledger is not open yet" + (ledger.lastError.map { ": \($0)" } ?? ""))
        }
        running += 1
        defer {
            running -= 1
            if running == 0 {
                let waiters = idleWaiters
                idleWaiters = []
                for waiter in waiters { waiter.resume() }
            }
        }
        let reply = await executor.execute(request, ledger: ledger)
        return NodeJSON.encode(reply)
    }
}
