using System.Text;
using System.Text.Json.Nodes;
using Shadowing.Core.Data.Synthetic;

namespace Shadowing.Core.Tests.Data.Synthetic;

public sealed class DataMaskerTests
{
    private const string Record = """
        {"id":"c-0042","email":"ana.lopez@mail.example.org","name":"Ana Lopez","plan":"pro","spend":12.5,
         "contact":{"phone":"+44 20 7946 0958","note":"call after 5"},"cards":["4111 1111 1111 1111"],"notes":"VIP since 2019"}
        """;

    [Fact]
    public void Mask_ReplacesPersonalDataByNamePatternAndConfiguredField_AndKeepsTheRest()
    {
        var masked = Mask(new DataMasker(["notes"], seed: 1), Record);

        Assert.Equal("c-0042", (string?)masked["id"]);
        Assert.Equal("pro", (string?)masked["plan"]);
        Assert.Equal(12.5, (double?)masked["spend"]);
        Assert.Equal("call after 5", (string?)masked["contact"]!["note"]);
        Assert.EndsWith("@example.com", (string?)masked["email"], StringComparison.Ordinal);
        Assert.NotEqual("Ana Lopez", (string?)masked["name"]);
        Assert.Contains("-555-01", (string?)masked["contact"]!["phone"], StringComparison.Ordinal);
        Assert.StartsWith("40000000", (string?)masked["cards"]![0], StringComparison.Ordinal);
        Assert.True(PiiDetector.Luhn((string)masked["cards"]![0]!));
        Assert.NotEqual("VIP since 2019", (string?)masked["notes"]);
        Assert.Equal("VIP since 2019".Length, ((string?)masked["notes"])!.Length); // same shape
        foreach (var original in new[] { "ana.lopez@mail.example.org", "Ana Lopez", "+44 20 7946 0958", "4111 1111 1111 1111", "VIP since 2019" })
        {
            Assert.DoesNotContain(original, masked.ToJsonString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Mask_SameValueAndSeed_SameReplacement_SoJoinsStillWork_AndAnotherSeedDiffers()
    {
        var first = Mask(new DataMasker([], seed: 1), """{"email":"ana.lopez@mail.example.org"}""");
        var again = Mask(new DataMasker([], seed: 1), """{"billingEmail":"ana.lopez@mail.example.org","id":7}""");
        var other = Mask(new DataMasker([], seed: 2), """{"email":"ana.lopez@mail.example.org"}""");

        Assert.Equal((string?)first["email"], (string?)again["billingEmail"]);
        Assert.NotEqual((string?)first["email"], (string?)other["email"]);
    }

    [Fact]
    public void Mask_WithAKey_TheReplacementCannotBeComputedWithoutIt()
    {
        // Unkeyed, anyone with the code and the seed computes a candidate address's replacement and finds it in a copy.
        const string Record = """{"email":"ana.lopez@mail.example.org"}""";
        var keyed = Mask(new DataMasker([], seed: 1, key: [.. Enumerable.Range(0, 32).Select(i => (byte)i)]), Record);
        var again = Mask(new DataMasker([], seed: 1, key: [.. Enumerable.Range(0, 32).Select(i => (byte)i)]), Record);
        var otherKey = Mask(new DataMasker([], seed: 1, key: [.. Enumerable.Range(1, 32).Select(i => (byte)i)]), Record);
        var unkeyed = Mask(new DataMasker([], seed: 1), Record);

        Assert.Equal((string?)keyed["email"], (string?)again["email"]);
        Assert.NotEqual((string?)keyed["email"], (string?)otherKey["email"]);
        Assert.NotEqual((string?)keyed["email"], (string?)unkeyed["email"]);
    }

    [Fact]
    public void Mask_NumbersUnderPersonalNames_AndEverythingBelowAConfiguredField_AreMaskedToo()
    {
        var masked = Mask(new DataMasker(["address"], seed: 1), """
            {"phone":2125550147,"cardNumber":4111111111111111,"visits":12,
             "address":{"street":"12 Rua Augusta","zip":1100048,"lines":["3rd floor"],"area":2.5e3}}
            """);

        Assert.Equal(12, (int?)masked["visits"]);
        Assert.NotEqual(2125550147L, (long?)masked["phone"]);
        Assert.Contains("55501", ((long?)masked["phone"])!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal); // a fictional number's digits
        Assert.True(PiiDetector.Luhn(masked["cardNumber"]!.ToJsonString()));
        Assert.StartsWith("40000000", masked["cardNumber"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.NotEqual("12 Rua Augusta", (string?)masked["address"]!["street"]);
        Assert.NotEqual(1100048, (long?)masked["address"]!["zip"]);
        Assert.Equal(7, masked["address"]!["zip"]!.ToJsonString().Length);
        Assert.NotEqual("3rd floor", (string?)masked["address"]!["lines"]![0]);
        Assert.Matches("^[1-9]\\.[0-9]e3$", masked["address"]!["area"]!.ToJsonString()); // digits only: still a number
    }

    [Fact]
    public void Mask_ACardNumberStoredAsANumber_IsMaskedByItsDigits_WhateverItsField()
    {
        var masked = Mask(new DataMasker([], seed: 1), """
            {"payment":{"number":4111111111111111},"orderId":4123456789012349,"total":1999,"version":4111111111111112,
             "createdAt":1733548800007,"sequence":1865432109876543218}
            """);

        Assert.StartsWith("40000000", masked["payment"]!["number"]!.ToJsonString(), StringComparison.Ordinal); // a test card's digits
        Assert.Equal(4123456789012349L, (long?)masked["orderId"]); // Luhn-valid, but named as an id
        Assert.Equal(4111111111111112L, (long?)masked["version"]); // fails the Luhn check
        Assert.Equal(1733548800007L, (long?)masked["createdAt"]); // Luhn-valid epoch milliseconds: 13 digits, no card
        Assert.Equal(1865432109876543218L, (long?)masked["sequence"]); // a Luhn-valid 64-bit id: 19 digits
        Assert.Equal(1999, (int?)masked["total"]);
    }

    [Fact]
    public void Mask_AnObjectUnderAnyPhoneName_AndCardNumbersUnderNamesThatOnlyEndLikeAnId_AreMasked()
    {
        var masked = Mask(new DataMasker([], seed: 1), """
            {"msisdn":{"value":"447700900123"},"contactNumber":{"countryCode":"44","number":"7700900111"},"homeMobile":{"digits":"447700900222"},
             "wallets":[4111111111111111],"accounts":{"primary":5555555555554444},"order_id":4123456789012349,"updatedTS":4123456789012349,
             "contacts":{"source":"crm"}}
            """).ToJsonString();

        foreach (var original in new[] { "447700900123", "7700900111", "447700900222", "4111111111111111", "5555555555554444" })
        {
            Assert.DoesNotContain(original, masked, StringComparison.Ordinal);
        }

        Assert.Contains("\"order_id\":4123456789012349", masked, StringComparison.Ordinal); // named as an id
        Assert.Contains("\"updatedTS\":4123456789012349", masked, StringComparison.Ordinal); // named as a time
        Assert.Contains("\"source\":\"crm\"", masked, StringComparison.Ordinal); // "contacts" alone may be anything
    }

    [Fact]
    public void Mask_EverythingInAnObjectOrArrayUnderAPersonalName_IsMasked()
    {
        var masked = Mask(new DataMasker([], seed: 1), """
            {"name":{"first":"Jane","last":"Doe"},"phones":[{"type":"home","number":5551234567}],"phoneNumbers":[{"number":"5559876543"}],"emailAddresses":[{"value":"ana.lopez at mail"}],"plan":"pro"}
            """).ToJsonString();

        foreach (var original in new[] { "Jane", "Doe", "5551234567", "5559876543", "ana.lopez" })
        {
            Assert.DoesNotContain(original, masked, StringComparison.Ordinal);
        }

        Assert.Contains("\"plan\":\"pro\"", masked, StringComparison.Ordinal);

        // An object about e-mail, not of it, keeps its settings and dates (a shadow must still read its own copy).
        var preferences = Mask(new DataMasker([], seed: 1), """
            {"emailPreferences":{"frequency":"weekly","updatedAt":"2025-01-02T10:00:00Z"}}
            """).ToJsonString();
        Assert.Contains("\"frequency\":\"weekly\"", preferences, StringComparison.Ordinal);
        Assert.Contains("2025-01-02T10:00:00Z", preferences, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\uFEFF{\"email\":\"ana.lopez@mail.example.org\"}")] // a byte-order mark
    [InlineData("{\"email\":\"ana.lopez@mail.example.org\", /* set at sign-up */ }")] // a comment, a trailing comma
    [InlineData("{\"id\":1,\"email\":\"ana.lopez@mail.example.org\",\"email\":\"x\"}")] // a name twice
    [InlineData("{\"email\":\"ana.lopez@mail.example.org\",\"notes\":")] // cut short
    public void Mask_JsonTheStrictReaderRefuses_KeepsNoPersonalData(string value)
    {
        var masked = Encoding.UTF8.GetString(new DataMasker([], seed: 1).Mask(Encoding.UTF8.GetBytes(value)).Span);

        Assert.DoesNotContain("ana.lopez", masked, StringComparison.Ordinal);
    }

    [Fact]
    public void Mask_NotJson_MaskedWholeWhenItIsPersonalData_ElseUnchanged()
    {
        var masker = new DataMasker([], seed: 1);

        Assert.EndsWith("@example.com", Encoding.UTF8.GetString(masker.Mask("ana.lopez@mail.example.org"u8.ToArray()).Span), StringComparison.Ordinal);
        Assert.Equal("plain text", Encoding.UTF8.GetString(masker.Mask("plain text"u8.ToArray()).Span));
    }

    [Fact]
    public void Mask_ThreeHundredThousandCustomers_EachGetsAnAddressOfTheirOwn()
    {
        // Measured with the earlier replacements: a 32-bit seed per replacement, 10 addresses repeated another's; six digits, 2,236.
        var masker = new DataMasker([], seed: 1);

        var masked = Enumerable.Range(0, 300_000).Select(i => Encoding.UTF8.GetString(masker.Mask(Encoding.UTF8.GetBytes($"customer{i}@mail.example.org")).Span)).ToList();

        Assert.All(masked.Take(10), m => Assert.EndsWith("@example.com", m, StringComparison.Ordinal));
        Assert.Equal(masked.Count, masked.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Mask_AConfiguredFieldInAnyScript_KeepsNoneOfItsLetters()
    {
        var masked = Mask(new DataMasker(["address"], seed: 1), """
            {"address":{"jp":"東京都千代田区丸の内1-1-1","ru":"ул. Ленина 5, Москва","de":"Königstraße 7","hi":"मोहन मार्ग ²"}}
            """);

        foreach (var (field, original) in new[] { ("jp", "東京都千代田区丸の内1-1-1"), ("ru", "ул. Ленина 5, Москва"), ("de", "Königstraße 7"), ("hi", "मोहन मार्ग ²") })
        {
            var value = (string)masked["address"]![field]!;
            Assert.All(value, c => Assert.True(char.IsAscii(c), $"'{c}' (U+{(int)c:X4}) kept from '{original}' in '{value}'")); // letters, vowel signs, superscripts
            Assert.Equal(original.Where(c => char.IsPunctuation(c) || c == ' '), value.Where(c => char.IsPunctuation(c) || c == ' ')); // punctuation and spaces kept
        }
    }

    private static JsonNode Mask(DataMasker masker, string json) => JsonNode.Parse(masker.Mask(Encoding.UTF8.GetBytes(json)).Span)!;
}
