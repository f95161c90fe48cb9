import Foundation
import Membership

/// Every interval and limit of the membership shell (the protocol's own are in ``protocolSettings``).
///
/// Sendable: plain value.
public struct MembershipShellSettings: Sendable {
    /// The SWIM + Lifeguard protocol settings (memberlist's LAN defaults, DESIGN §5).
    public var protocolSettings = Membership.Settings()
    /// Membership messages queued per peer while its membership link is being (re)established; the oldest
    /// are dropped beyond this (sending is best effort). Default 64.
    public var sendQueueLimit = 64
    /// How long a queued message waits for the peer's membership link before it is dropped. Default 1 s
    /// (a probe answered later than that is worthless anyway).
    public var linkWaitTimeout: TimeInterval = 1
    /// How often the shell reads the host's load average and free memory. Default 10 s.
    public var hostMetricsInterval: Duration = .seconds(10)
    /// A load-average change smaller than this, or than ``loadChangeFraction`` of the last published
    /// value, whichever is larger, is not gossiped (metadata gossip costs every member traffic). Default 0.5.
    public var loadChangeThreshold: Double = 0.5
    /// See ``loadChangeThreshold``. Default 0.25 (25 %).
    public var loadChangeFraction: Double = 0.25
    /// A free-memory change smaller than this fraction of the last published value is not gossiped.
    /// Default 0.1 (10 %).
    public var memoryChangeFraction: Double = 0.1
    /// While a node that was given seeds knows no other member, it asks the seeds again after this delay,
    /// doubling up to ``seedRetryMaxDelay``, so nodes may start in any order. Default 1 s.
    public var seedRetryBaseDelay: Duration = .seconds(1)
    /// See ``seedRetryBaseDelay``. Default 30 s (the protocol's reconnect interval takes over then).
    public var seedRetryMaxDelay: Duration = .seconds(30)
    /// How long `leave()` waits for the "left" messages to be written out. Default 1 s.
    public var leaveFlushTimeout: TimeInterval = 1
    /// Events buffered per subscriber of ``MembershipShell/events()``; the oldest are dropped beyond this.
    /// Default 4096.
    public var eventBufferLimit = 4096

    /// The defaults above.
    public init() {}

    /// Faster settings for tests on loopback: probe interval 200 ms, probe timeout 100 ms, gossip 50 ms,
    /// push-pull and reconnect every 2 s, metadata at most every 200 ms.
    public static var fastForTests: MembershipShellSettings {
        var s = MembershipShellSettings()
        s.protocolSettings.probeInterval = .milliseconds(200)
        s.protocolSettings.probeTimeout = .milliseconds(100)
        s.protocolSettings.gossipInterval = .milliseconds(50)
        s.protocolSettings.pushPullInterval = .seconds(2)
        s.protocolSettings.reconnectInterval = .seconds(2)
        s.protocolSettings.metadataMinInterval = .milliseconds(200)
        s.linkWaitTimeout = 0.5
        s.hostMetricsInterval = .seconds(1)
        return s
    }
}
