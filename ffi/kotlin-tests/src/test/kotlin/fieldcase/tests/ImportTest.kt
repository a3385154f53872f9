// Spreadsheet import from Kotlin, as an app's "import" screen would drive it: a dry run to
// show what each column became and every problem, the import with a progress callback, the
// review list, and an edit that clears a case from it.
package fieldcase.tests

import fieldcase.FieldcaseException
import fieldcase.ImportObserver
import fieldcase.ImportProgress
import fieldcase.ImportSettings
import fieldcase.TextEncoding
import fieldcase.createUnenrolledStoreForTests
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ImportTest {
    private fun fixture(name: String): String {
        val dir = System.getProperty("fieldcase.fixtures.dir") ?: "../../core/tests/fixtures/spreadsheets"
        return Path.of(dir, name).toAbsolutePath().toString()
    }

    private fun settings(review: Boolean = false, dryRun: Boolean = false, mapping: String? = null) =
        ImportSettings(mappingPath = mapping, review = review, dryRun = dryRun, encoding = TextEncoding.UTF8)

    private class Recorder : ImportObserver {
        val seen = CopyOnWriteArrayList<ImportProgress>()
        override fun onProgress(progress: ImportProgress) { seen.add(progress) }
    }

    @Test
    fun `a dry run, an import with progress, the review list and a fix`() = runBlocking {
        val path = workDir("import").resolve("store.db").toString()
        val store = createUnenrolledStoreForTests(path, PASSPHRASE, "iom_uga", "cw_1")
        val csv = fixture("caseload_fr_excel.csv")

        val dry = store.importSpreadsheet(csv, settings(dryRun = true), null)
        assertEquals(4uL, dry.headerRow)
        assertEquals("sex", dry.columns[3].target)
        assertEquals("Identité Prénom", dry.columns[0].header)
        assertEquals(null, dry.columns[10].target)
        assertEquals(4uL, dry.totals.imported)
        assertEquals(2uL, dry.totals.refused)
        val problem = dry.problems.single { it.row == 9uL }
        assertEquals("C", problem.column)
        assertEquals("date_of_birth", problem.field)
        assertFalse(problem.reviewable)
        assertTrue(dry.problems.single { it.row == 8uL }.reviewable)
        assertFalse(dry.problems.toString().contains("Grace"))
        assertEquals(0uL, store.countCases(null), "a dry run writes nothing")

        val recorder = Recorder()
        val report = store.importSpreadsheet(csv, settings(review = true), recorder)
        assertEquals(5uL, report.totals.imported)
        assertEquals(1uL, report.totals.flagged)
        assertEquals(report.totals, recorder.seen.last(), "the last progress is the total")
        assertTrue(recorder.seen.isNotEmpty())
        assertEquals(5uL, store.countCases(null))

        val again = store.importSpreadsheet(csv, settings(review = true), null)
        assertEquals(5uL, again.totals.alreadyPresent)
        assertEquals(0uL, again.totals.imported, "a re-run adds nothing twice")

        val review = store.listReview()
        assertEquals(1, review.size)
        val item = review.single()
        assertEquals("caseload_fr_excel.csv", item.source)
        assertEquals(8uL, item.row)
        assertEquals(listOf("consent.guardian"), item.problems.map { it.field })

        val case = store.getCase(item.caseId)
        assertTrue(store.updateCase(case, case.data.copy(consentGuardian = "Aunt")))
        assertTrue(store.listReview().isEmpty(), "the fix clears the flag")
    }

    @Test
    fun `a mapping file, a Latin-1 file and a bad mapping`(): Unit = runBlocking {
        val path = workDir("import-mapping").resolve("store.db").toString()
        val store = createUnenrolledStoreForTests(path, PASSPHRASE, "iom_uga", "cw_1")
        val mapped = store.importSpreadsheet(
            fixture("legacy_db_export.csv"),
            settings(review = true, mapping = fixture("legacy_mapping.json")),
            null,
        )
        assertEquals(3uL, mapped.totals.imported)
        assertEquals(2uL, mapped.totals.flagged)

        val latin1 = fixture("latin1_old_excel.csv")
        val notUtf8 = assertThrows<FieldcaseException.Invalid> {
            runBlocking { store.importSpreadsheet(latin1, settings(), null) }
        }
        assertEquals(listOf("file"), notUtf8.problems.map { it.field })
        assertTrue(notUtf8.message!!.contains("latin1"), notUtf8.message)
        val transcoded = store.importSpreadsheet(latin1, settings().copy(encoding = TextEncoding.LATIN1), null)
        assertEquals(2uL, transcoded.totals.imported)

        val bad = workDir("mapping").resolve("bad.toml")
        bad.toFile().writeText("[columns]\nSexe = \"colour\"\n")
        val refused = assertThrows<FieldcaseException.Invalid> {
            runBlocking { store.importSpreadsheet(latin1, settings(mapping = bad.toString()), null) }
        }
        assertEquals(listOf("mapping"), refused.problems.map { it.field })
        assertThrows<FieldcaseException.NotFound> {
            runBlocking { store.importSpreadsheet("$latin1.missing", settings(), null) }
        }
    }
}
