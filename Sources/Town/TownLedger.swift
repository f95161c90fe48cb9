import Beads
import Foundation
import LedgerStore

/// The town ledger as the workflow uses it: the store at `<town>/.beads` opened in embedded mode (this process
/// takes the store's one-writer lock, waiting for it while another writer holds it), with writes run on a
/// dedicated thread so the cooperative pool never waits on an fsync.
///
/// `Sendable`: wraps a `LedgerDatabase`, which is thread-safe.
public final class TownLedger: Sendable {
    /// The open store.
    public let database: LedgerDatabase
    /// Who writes (created_by, comment authors).
    public let actor: String

    init(database: LedgerDatabase, actor: String) {
        self.database = database
        self.actor = actor
    }

    /// Opens the ledger of `layout`, waiting up to `wait` for another writer's lock. When the lock is held, `notice`
    /// is told so (with the holder) once before the wait, so a person or agent sees why the command pauses.
    /// `mode` `.read` for operations that only read (shared lock, no file of the store changed).
    public static func open(
        _ layout: TownLayout, actor: String, wait: Duration, mode: StoreOpenMode = .write,
        notice: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws(TownError) -> TownLedger {
        let storeLayout = StoreLayout(beadsDirectory: layout.beadsDirectory)
        switch await attempt(storeLayout, wait: .zero, mode: mode) {
        case .success(let database):
            return TownLedger(database: database, actor: actor)
        case .failure(.store(.locked(_, let holder, _))):
            if layout.nodeHoldsLock {
                // The town's node started after this command chose embedded mode: never wait on (or write
                // around) the node's store; nothing was written by this operation.
                throw .nodeDown(
                    "the town's node started while this command was opening the town ledger; nothing was done by "
                        + "it; run the command again (it then goes through the node)")
            }
            notice("waiting up to \(wait) for the town ledger, held by \(holder)")
        case .failure(let error):
            throw .ledger(error.description)
        }
        switch await attempt(storeLayout, wait: wait, mode: mode) {
        case .success(let database): return TownLedger(database: database, actor: actor)
        case .failure(let error): throw .ledger(error.description)
        }
    }

    static func attempt(
        _ layout: StoreLayout, wait: Duration, mode: StoreOpenMode
    ) async -> Result<LedgerDatabase, LedgerDatabaseError> {
        var configured = LedgerDatabaseSettings()
        configured.store.lockWaitTimeout = wait
        let settings = configured
        return await DedicatedThread.run {
            do throws(LedgerDatabaseError) {
                return .success(try LedgerDatabase.open(layout, settings: settings, mode: mode))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Releases the store's lock.
    public func close() async {
        let database = self.database
        await DedicatedThread.run { database.close() }
    }

    /// A bead by ID (any scope), or nil.
    public func bead(_ id: String) -> Bead? {
        database.read { state in
            guard let scope = state.scope(forID: id) else { return nil }
            return state.scopes[scope]?.bead(id)
        }
    }

    /// Beads of `scope` matching `filter` (all statuses unless the filter says otherwise).
    public func beads(scope: String, where filter: (Bead) -> Bool) -> [Bead] {
        database.read { state in
            guard let ledger = state.scopes[scope] else { return [] }
            return ledger.list(BeadFilter()).filter(filter)
        }
    }

    /// The scope holding `id`, or nil.
    public func scope(of id: String) -> String? { database.read { $0.scope(forID: id) } }

    /// The scope names.
    public var scopes: [String] { database.read { $0.scopeNames } }

    /// Writes one op built against the current ledger of `scope` (or the scope routing `id`).
    @discardableResult
    public func write(
        scope: String? = nil, routing id: String? = nil,
        _ make: @escaping @Sendable (Ledger, WriteClock, String) throws(LedgerError) -> LedgerOp
    ) async throws(TownError) -> Bead? {
        let database = self.database
        let actor = self.actor
        let result: Result<Bead?, LedgerDatabaseError> = await DedicatedThread.run {
            do throws(LedgerDatabaseError) {
                return .success(
                    try database.write(scope: scope, routing: id) { ledger, clock throws(LedgerError) in
                        try make(ledger, clock, actor)
                    }.bead)
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let bead): return bead
        case .failure(let error): throw .ledger(error.description)
        }
    }

    /// Writes several changes of one scope as one all-or-nothing write (one WAL record): applied together or not
    /// at all, so a crash never leaves half of them.
    @discardableResult
    public func batch(
        scope: String? = nil, routing id: String? = nil,
        _ changes: @escaping @Sendable (Ledger) throws(LedgerError) -> [LedgerChange]
    ) async throws(TownError) -> [Bead?] {
        let database = self.database
        let actor = self.actor
        let result: Result<[Bead?], LedgerDatabaseError> = await DedicatedThread.run {
            do throws(LedgerDatabaseError) {
                return .success(try database.write(scope: scope, routing: id, actor: actor, changes: changes))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let beads): return beads
        case .failure(let error): throw .ledger(error.description)
        }
    }

    /// Writes a field update of `id`.
    @discardableResult
    public func update(_ id: String, _ fields: [FieldUpdate]) async throws(TownError) -> Bead? {
        try await write(routing: id) { _, clock, actor in
            LedgerOp(actor: actor, stamp: clock.stamp, time: clock.time, change: .update(id: id, fields: fields))
        }
    }

    /// Sets metadata keys of `id` (one op per key; nil removes).
    public func setMetadata(_ id: String, _ values: [(String, JSONValue?)]) async throws(TownError) {
        for (key, value) in values {
            try await write(routing: id) { _, clock, actor in
                LedgerOp(
                    actor: actor, stamp: clock.stamp, time: clock.time,
                    change: .setMetadata(id: id, key: key, value: value))
            }
        }
    }

    /// Adds a scope (a new rig's prefix).
    public func addScope(_ prefix: String) async throws(TownError) {
        let database = self.database
        let result: Result<Void, LedgerDatabaseError> = await DedicatedThread.run {
            do throws(LedgerDatabaseError) {
                try database.addScope(prefix)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = result { throw .ledger(error.description) }
    }
}

extension Bead {
    /// A metadata value as text, if present.
    public func metadataString(_ key: String) -> String? {
        guard let member = metadata.first(where: { $0.key == key }) else { return nil }
        return member.value.stringValue ?? member.value.intValue.map(String.init)
    }

    /// A metadata value as an integer (0 when absent).
    public func metadataInt(_ key: String) -> Int {
        guard let member = metadata.first(where: { $0.key == key }) else { return 0 }
        return member.value.intValue ?? Int(member.value.stringValue ?? "") ?? 0
    }
}
