import Foundation
import Health
import Transport

/// Every interval and limit of the node daemon, with its default. Components keep their own settings; the
/// transport's and the PKI's are nested here so one value configures a node.
///
/// `Sendable` because it is a plain value.
public struct NodeSettings: Sendable {
    /// The connection manager's settings (timeouts, keep-alive, reconnect backoff).
    public var connections = ConnectionManagerSettings()
    /// Certificate lifetimes, renewal fraction (2/3) and join-token lifetime.
    public var pki = PKISettings()
    /// Restart backoff of supervised components (the Deacon's core is given these values).
    public var supervisor = SupervisorSettings()
    /// The Deacon (docs/health.md): give up a component after `give_up_after` (6) failures in a row, one
    /// escalation per Dog failure streak of `dog_escalate_after` (3), stale after `stale_after` (30 s) without a
    /// beat, Dogs' intervals (`ledger-sync` 30 s, `cleanup` 600 s, `doctor` 60 s, `checkpoint` 300 s). Its backoff
    /// fields are ignored here: the node's restart backoff is `supervisor`'s.
    public var deacon = DeaconSettings()
    /// The Dogs' limits: the cleanup disk budget (10 GiB), the checkpoint reference prefix, the doctor's minimum
    /// free space (1 GiB).
    public var dogs = DogSettings()
    /// How often the Deacon ticks (beats, starts Dogs that are due). Default 1 s.
    public var deaconTickInterval: TimeInterval = 1
    /// How often the Node checks that the Deacon beats (and restarts it when stale). Default 5 s.
    public var deaconWatchInterval: TimeInterval = 5
    /// How often `revocations.jsonl`, `node.crt` and the CA files are checked for changes made by other
    /// processes. Default 2 s.
    public var pkiWatchInterval: TimeInterval = 2
    /// How often the node checks whether its certificate is due for renewal. Default 1 h.
    public var renewalCheckInterval: TimeInterval = 3600
    /// After a failed renewal, the next try. Default 5 min.
    public var renewalRetryInterval: TimeInterval = 300
    /// First delay before redialing a seed that could not be reached. Default 200 ms.
    public var seedRetryBaseDelay: TimeInterval = 0.2
    /// Seed redial delays double up to this cap. Default 10 s.
    public var seedRetryMaxDelay: TimeInterval = 10
    /// A seed whose certificate this node cannot verify is asked for the cluster's signed trust state (CA
    /// rotations, revocations) over a join connection at most this often. Default 5 s.
    public var trustCatchUpInterval: TimeInterval = 5
    /// Time each component's `stop()` gets at shutdown before the node moves on. Default 10 s.
    public var componentStopTimeout: TimeInterval = 10
    /// The ledger sync loop (`LedgerSyncComponent`): 1 s interval for path remotes, 5 s for network ones, 100 ms
    /// debounce of local writes, retries from 1 s to 60 s, push notices on. See docs/sync.md.
    public var ledgerSync = LedgerSyncLoopSettings()
    /// Pings sent by `gt node ping`. Default 3.
    public var pingCount = 3
    /// Time allowed for each ping's answer. Default 5 s.
    public var pingTimeout: TimeInterval = 5

    public init() {}
}
