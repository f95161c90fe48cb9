import Testing
@testable import Beads

@Test func moduleLinks() {
    #expect(!BeadsModule.name.isEmpty)
}
