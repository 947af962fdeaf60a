using System.Text.RegularExpressions;

namespace Shadowing.Core.Data.Synthetic;

/// <summary>The kinds of personal data found by name or pattern.</summary>
public enum PiiKind
{
    /// <summary>Not personal data as far as the detector can tell.</summary>
    None,

    /// <summary>An e-mail address.</summary>
    Email,

    /// <summary>A person's name (first, last or full).</summary>
    Name,

    /// <summary>A phone number.</summary>
    Phone,

    /// <summary>A payment card number (13–19 digits passing the Luhn check).</summary>
    CardNumber,
}

/// <summary>
/// Finds fields that hold personal data: by the field's name (<c>email</c>, <c>firstName</c>, <c>phone</c>, <c>cardNumber</c>
/// and their common spellings) or by the value's pattern (an e-mail address, a phone number, a Luhn-valid card number).
/// Operators add field names the heuristics miss (<see cref="ShadowDataOptions.MaskFields"/>).
/// </summary>
public static partial class PiiDetector
{
    /// <summary>The kind a field's name suggests.</summary>
    public static PiiKind ByName(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        var name = field.Replace("_", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal).ToUpperInvariant();

        // "mobileNumber", "telNos", "faxNum": a phone's usual names with a number suffix, singular or plural; not every
        // name containing one (mobileAppVersion, automobileMake, cellId).
        var singular = name.EndsWith('S') ? name[..^1] : name;
        var stem = singular.EndsWith("NUMBER", StringComparison.Ordinal) ? singular[..^6] : singular.EndsWith("NUM", StringComparison.Ordinal) ? singular[..^3] : singular.EndsWith("NO", StringComparison.Ordinal) ? singular[..^2] : singular;
        return name switch
        {
            _ when name.Contains("EMAIL", StringComparison.Ordinal) || name == "MAIL" => PiiKind.Email,
            _ when name.Contains("PHONE", StringComparison.Ordinal) || name.Contains("MSISDN", StringComparison.Ordinal)
                || stem is "TEL" or "TELEPHONE" or "FAX" or "CELL" or "CELLULAR" or "MOBILE" || stem.EndsWith("MOBILE", StringComparison.Ordinal) && !stem.EndsWith("AUTOMOBILE", StringComparison.Ordinal)
                || (stem == "CONTACT" && stem != singular) => PiiKind.Phone, // a bare "contact" may be anything
            // Not every name containing "card" (discarded, cardinality, scorecard): card numbers by their usual names.
            _ when name.Contains("CARDNUM", StringComparison.Ordinal) || name.Contains("CARDNO", StringComparison.Ordinal) || name is "CARD" or "PAN" or "CCNUMBER" or "CCNUM" or "CREDITCARD" or "DEBITCARD" => PiiKind.CardNumber,
            _ when name.Contains("HOLDERNAME", StringComparison.Ordinal) || name is "CARDHOLDER" or "ACCOUNTHOLDER" => PiiKind.Name,
            _ when name is "NAME" or "NAMES" or "FIRSTNAME" or "LASTNAME" or "FULLNAME" or "GIVENNAME" or "FAMILYNAME" or "SURNAME" or "CUSTOMERNAME" or "DISPLAYNAME" or "MIDDLENAME" or "MAIDENNAME" or "NICKNAME" => PiiKind.Name,
            // A person's name by its role ("recipientName", "shipping_name", "customerFirstName"); not every "...Name"
            // (productName, shippingMethodName, customerGroupName).
            _ when PersonRoles.Any(role => name.StartsWith(role, StringComparison.Ordinal) && name[role.Length..] is "NAME" or "NAMES" or "FIRSTNAME" or "LASTNAME" or "FULLNAME" or "GIVENNAME" or "FAMILYNAME" or "MIDDLENAME" or "DISPLAYNAME") => PiiKind.Name,
            _ => PiiKind.None,
        };
    }

    /// <summary>Who a "...Name" field may name: a person, so the name is personal.</summary>
    private static readonly string[] PersonRoles = ["RECIPIENT", "CONTACT", "OWNER", "BILLING", "SHIPPING", "CUSTOMER", "PATIENT", "EMPLOYEE", "MEMBER", "SENDER", "BUYER", "PAYER", "GUEST"];

    /// <summary>The kind a value's pattern shows.</summary>
    public static PiiKind ByValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (EmailPattern().IsMatch(value))
        {
            return PiiKind.Email;
        }

        var digits = value.Count(char.IsAsciiDigit);
        if (CardPattern().IsMatch(value) && digits is >= 13 and <= 19 && Luhn(value))
        {
            return PiiKind.CardNumber;
        }

        // A plain run of digits is an id or a count far more often than a phone number: ask for a '+' or a separator.
        // Dates, IPv4 addresses and decimals are digits with separators too.
        var separated = value.AsSpan().IndexOfAny("+ -().") >= 0;
        return separated && PhonePattern().IsMatch(value) && digits is >= 7 and <= 15 && !NotPhonePattern().IsMatch(value) ? PiiKind.Phone : PiiKind.None;
    }

    /// <summary>Whether the digits of <paramref name="value"/> pass the Luhn check.</summary>
    public static bool Luhn(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sum = 0;
        var doubled = false;
        for (var i = value.Length - 1; i >= 0; i--)
        {
            if (!char.IsAsciiDigit(value[i]))
            {
                continue;
            }

            var d = value[i] - '0';
            if (doubled)
            {
                d = d * 2 > 9 ? (d * 2) - 9 : d * 2;
            }

            sum += d;
            doubled = !doubled;
        }

        return sum % 10 == 0;
    }

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")]
    private static partial Regex EmailPattern();

    // A phone number: digits with the usual separators, optionally an international prefix; not a plain integer.
    [GeneratedRegex(@"^\+?\(?\d[\d\s\-().]{5,}\d$")]
    private static partial Regex PhonePattern();

    // An ISO date (with or without a time), an IPv4 address, a decimal number.
    [GeneratedRegex(@"^(\d{4}-\d{2}-\d{2}([T ].*)?|\d{1,3}(\.\d{1,3}){3}|-?\d+[.,]\d+)$")]
    private static partial Regex NotPhonePattern();

    [GeneratedRegex(@"^\d[\d\s\-]{11,22}\d$")]
    private static partial Regex CardPattern();
}
