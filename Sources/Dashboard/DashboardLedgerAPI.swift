import Beads
import Foundation
import LedgerStore
import Scheduling

/// The ledger part of the JSON API, read from the store the node holds in memory (`LedgerDatabase.read`: a lock
/// and a walk of the in-memory beads, no file, no git): list and ready with paging cursors, show, and claim as a
/// compare-and-swap on the lease epoch. Pure functions of the state they are given, so they are tested without a
/// node.
///
/// A caseless namespace; nothing to share.
public enum DashboardLedgerAPI {
    /// Paging: `limit` (1…500, default 100) and an opaque `cursor` from the previous page's `next_cursor`.
    public struct Page: Sendable, Equatable {
        public var limit: Int
        public var after: String?
    }

    /// A 400 with a message saying what to send instead.
    public struct BadQuery: Error, Sendable, Equatable {
        public var message: String
    }

    public static func page(_ query: [String: String]) throws(BadQuery) -> Page {
        var limit = 100
        if let text = query["limit"] {
            guard let value = Int(text), (1...500).contains(value) else {
                throw BadQuery(message: "limit must be a whole number from 1 to 500, not '\(text)'")
            }
            limit = value
        }
        var after: String?
        if let cursor = query["cursor"], !cursor.isEmpty {
            guard let decoded = decodeCursor(cursor) else {
                throw BadQuery(message: "cursor '\(cursor)' is not one this API gave out; start again without it")
            }
            after = decoded
        }
        return Page(limit: limit, after: after)
    }

    /// base64url of the sort key of the last bead on a page.
    public static func encodeCursor(_ key: String) -> String {
        Data(key.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func decodeCursor(_ cursor: String) -> String? {
        var text = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// The filters `GET /api/ledger/beads` takes: `scope`, `status`, `type`, `assignee`.
    public static func filter(_ query: [String: String]) throws(BadQuery) -> (scope: String?, filter: BeadFilter) {
        var filter = BeadFilter()
        if let status = query["status"] {
            guard let value = BeadStatus(rawValue: status) else {
                throw BadQuery(message: "status must be one of \(BeadStatus.allNames), not '\(status)'")
            }
            filter.statuses = [value]
            if value == .tombstone { filter.includeTombstones = true }
        }
        if let type = query["type"], !type.isEmpty { filter.types = [IssueType(rawValue: type)] }
        if let assignee = query["assignee"] { filter.assignee = assignee }
        return (query["scope"], filter)
    }

    /// One page of beads sorted by id, and the cursor of the next page (nil on the last).
    public static func list(
        _ state: TownLedgerState, scope: String?, filter: BeadFilter, page: Page
    ) throws(BadQuery) -> (beads: [Bead], next: String?) {
        if let scope, state.scopes[scope] == nil {
            throw BadQuery(message: "no scope '\(scope)'; scopes: \(state.scopeNames.joined(separator: ", "))")
        }
        var all: [Bead] = []
        for name in state.scopeNames where scope == nil || scope == name {
            all += state.scopes[name]!.list(filter)
        }
        all.sort { $0.id < $1.id }
        if let after = page.after { all = all.filter { $0.id > after } }
        let slice = Array(all.prefix(page.limit))
        let next = all.count > page.limit ? slice.last.map { encodeCursor($0.id) } : nil
        return (slice, next)
    }

    /// One page of ready work (DESIGN §3 "Ready") across scopes, by priority then id, and the next cursor.
    public static func ready(_ state: TownLedgerState, scope: String?, now: Timestamp, page: Page) throws(BadQuery)
        -> (beads: [Bead], next: String?)
    {
        if let scope, state.scopes[scope] == nil {
            throw BadQuery(message: "no scope '\(scope)'; scopes: \(state.scopeNames.joined(separator: ", "))")
        }
        var all: [Bead] = []
        for name in state.scopeNames where scope == nil || scope == name {
            all += state.scopes[name]!.ready(now: now)
        }
        func key(_ bead: Bead) -> String { String(format: "%03d:", bead.priority) + bead.id }
        all.sort { key($0) < key($1) }
        if let after = page.after { all = all.filter { key($0) > after } }
        let slice = Array(all.prefix(page.limit))
        let next = all.count > page.limit ? slice.last.map { encodeCursor(key($0)) } : nil
        return (slice, next)
    }

    /// The bead `id` (following a re-ID alias).
    public static func bead(_ state: TownLedgerState, _ id: String) -> Bead? {
        guard let scope = state.scope(forID: id), let ledger = state.scopes[scope] else { return nil }
        return ledger.bead(ledger.resolve(id))
    }

    /// The JSON of a page: `{"beads": [...], "next_cursor": "…" | null}`, each bead in beads' export shape plus
    /// `lease_epoch` and `claim_node` (the claim group a client needs for a claim).
    public static func pageJSON(_ beads: [Bead], next: String?) -> [UInt8] {
        var text = "{\"beads\":["
        text += beads.map(beadJSON).joined(separator: ",")
        text += "],\"next_cursor\":" + (next.map { "\"\($0)\"" } ?? "null") + "}\n"
        return Array(text.utf8)
    }

    /// One bead's JSON.
    public static func beadJSON(_ bead: Bead) -> String {
        var members: [JSONMember] = []
        if case .object(let fields) = BeadCodec.encode(bead) { members = fields }
        members.removeAll { $0.key == "lease_epoch" || $0.key == "claim_node" }
        members.append(JSONMember("lease_epoch", .int(bead.leaseEpoch)))
        members.append(JSONMember("claim_node", .string(bead.claimNode)))
        return JSONValue.object(members).compactText
    }

    /// A claim request: `{"assignee": "…", "expected_epoch": N}`.
    public struct ClaimRequest: Decodable, Sendable, Equatable {
        public var assignee: String
        public var expectedEpoch: Int

        enum CodingKeys: String, CodingKey {
            case assignee
            case expectedEpoch = "expected_epoch"
        }
    }

    /// Decodes a claim body; a 400 message saying what to send.
    public static func claimRequest(_ body: [UInt8]) throws(BadQuery) -> ClaimRequest {
        guard let request = try? JSONDecoder().decode(ClaimRequest.self, from: Data(body)) else {
            throw BadQuery(
                message: "the body must be JSON like {\"assignee\": \"rig/polecats/name\", \"expected_epoch\": 0} "
                    + "(expected_epoch: the lease_epoch you read)")
        }
        guard !request.assignee.isEmpty, request.assignee.count <= 200, request.expectedEpoch >= 0 else {
            throw BadQuery(message: "assignee must be 1-200 characters and expected_epoch at least 0")
        }
        return request
    }

    /// How a claim ended.
    public enum ClaimResult: Sendable, Equatable {
        case claimed(Bead)
        /// Someone else holds it (409).
        case held(Lease)
        /// The epoch moved past the one the client read (409): read again, then retry.
        case moved(Lease)
        case notFound
        case refused(String)
    }

    /// Claims `id` for `request.assignee` on `node` as a compare-and-swap on the lease epoch: written only when the
    /// bead's epoch is still `expectedEpoch` and nobody else holds it (`Ledger.apply` checks both inside the store's
    /// one write), to epoch + 1. Blocking (a WAL write and fsync): call it off the cooperative pool.
    public static func claim(
        _ id: String, _ request: ClaimRequest, node: String, database: LedgerDatabase, time: Timestamp
    ) -> ClaimResult {
        let resolved: String? = database.read { state in bead(state, id)?.id }
        guard let resolved else { return .notFound }
        let claimant = Claimant(assignee: request.assignee, node: node)
        do throws(LedgerDatabaseError) {
            let beads = try database.write(scope: nil, routing: resolved, actor: request.assignee) {
                (ledger) throws(LedgerError) -> [LedgerChange] in
                guard let current = ledger.bead(resolved) else { throw .beadNotFound(resolved) }
                return ClaimRunner.claimChanges(
                    current, claimant: claimant, expectedEpoch: request.expectedEpoch, force: false, time: time)
            }
            guard let written = beads.compactMap({ $0 }).last else { return .refused("nothing was written") }
            return .claimed(written)
        } catch {
            switch error {
            case .ledger(.alreadyClaimed(_, let holder, let holderNode, let epoch)):
                return .held(Lease(holder: holder, node: holderNode, epoch: epoch))
            case .ledger(.staleEpoch):
                let current: Bead? = database.read { state in bead(state, resolved) }
                return .moved(current.map(Lease.init) ?? Lease(holder: "", node: "", epoch: request.expectedEpoch))
            case .ledger(.beadNotFound):
                return .notFound
            default:
                return .refused(error.description)
            }
        }
    }
}
