import Testing
@testable import LedgerStore

@Test func moduleLinks() {
    #expect(!"\(LedgerStore.self)".isEmpty)
}
