// Search as an app's search box uses it, from Kotlin against the real library: summaries
// ranked exact > alike > prefix, typing in progress, phones, summaries following edits, case
// lists from summaries, and nothing personal in toString().
package fieldcase.tests

import fieldcase.CaseStatus
import fieldcase.FieldcaseException
import fieldcase.FieldcaseStore
import fieldcase.SearchMatch
import fieldcase.SearchQuery
import fieldcase.Sex
import fieldcase.createUnenrolledStoreForTests
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.TimeUnit

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SearchTest {
    private fun newStore(): FieldcaseStore {
        val path = workDir("search").resolve("store.db").toString()
        return createUnenrolledStoreForTests(path, PASSPHRASE, "iom_uga", "cw_1")
    }

    @Test
    fun `search answers with ranked summaries as the user types`() {
        val store = newStore()
        val mohammed = store.createCase(
            sampleCase("Mohammed", "Okello", phone = "+256 700 123456").copy(dateOfBirth = "1990-04"),
        )
        val muhammad = store.createCase(sampleCase("Muhammad", "Okello").copy(sex = Sex.MALE))
        val mohammedi = store.createCase(sampleCase("Mohammedi", "Achieng"))

        val found = store.searchCases(SearchQuery.Name("Mohammed"))
        assertEquals(
            listOf(mohammed to SearchMatch.EXACT, muhammad to SearchMatch.ALIKE, mohammedi to SearchMatch.PREFIX),
            found.map { it.summary.id to it.matched },
        )
        val summary = found.first().summary
        assertEquals("Mohammed", summary.givenName)
        assertEquals("Okello", summary.familyName)
        assertEquals(Sex.FEMALE, summary.sex)
        assertEquals("1990-04", summary.dateOfBirth)
        assertEquals("UGA", summary.nationality)
        assertEquals("2024-06-01", summary.intakeDate)
        assertEquals(CaseStatus.OPEN, summary.status)
        assertEquals("iom_uga", summary.ownerAgency)
        assertEquals(Sex.MALE, found[1].summary.sex)

        // Typing "okello moh": the first word whole, the second under way (a prefix is
        // spelled: "moh" is not "muh").
        assertEquals(
            listOf(mohammed),
            store.searchCases(SearchQuery.Name("okello moh")).map { it.summary.id },
        )
        assertEquals(
            listOf(mohammedi),
            store.searchCases(SearchQuery.Name("achi")).map { it.summary.id },
        )
        // A complete word (trailing space) adds no prefix matches.
        assertEquals(
            listOf(SearchMatch.EXACT, SearchMatch.ALIKE),
            store.searchCases(SearchQuery.Name("mohammed ")).map { it.matched },
        )
        val byPhone = store.searchCases(SearchQuery.Phone("0700 123 456"))
        assertEquals(listOf(mohammed to SearchMatch.EXACT), byPhone.map { it.summary.id to it.matched })
        assertTrue(store.searchCases(SearchQuery.Name("zaynab")).isEmpty())

        // Nothing of the person in what an app might log.
        assertFalse(summary.toString().contains("Mohammed"), summary.toString())
        assertFalse(found.toString().contains("Okello"), found.toString())
    }

    @Test
    fun `summaries follow edits and case lists are read from them`() {
        val store = newStore()
        val amina = store.createCase(sampleCase("Amina", "Nakato"))
        val grace = store.createCase(sampleCase("Grace", "Achieng"))
        val record = store.getCase(amina)
        assertTrue(
            store.updateCase(record, record.data.copy(familyName = "Namubiru", status = CaseStatus.ACTIVE)),
        )
        assertTrue(store.searchCases(SearchQuery.Name("nakato")).isEmpty())
        val hit = store.searchCases(SearchQuery.Name("namubiru")).single()
        assertEquals(amina, hit.summary.id)
        assertEquals(CaseStatus.ACTIVE, hit.summary.status)
        assertEquals(hit.summary, store.caseSummary(amina))

        assertEquals(listOf(amina, grace), store.listCaseSummaries(null, 10u, 0u).map { it.id })
        assertEquals(listOf(amina), store.listCaseSummaries(CaseStatus.ACTIVE, 10u, 0u).map { it.id })
        assertEquals(listOf("Grace"), store.listCaseSummaries(CaseStatus.OPEN, 10u, 0u).map { it.givenName })

        store.lock()
        assertThrows<FieldcaseException.Locked> { store.searchCases(SearchQuery.Name("amina")) }
        assertThrows<FieldcaseException.Locked> { store.listCaseSummaries(null, 10u, 0u) }
    }
}
