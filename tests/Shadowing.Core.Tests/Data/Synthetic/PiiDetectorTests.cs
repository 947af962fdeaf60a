using Shadowing.Core.Data.Synthetic;

namespace Shadowing.Core.Tests.Data.Synthetic;

public sealed class PiiDetectorTests
{
    [Theory]
    [InlineData("email", PiiKind.Email)]
    [InlineData("customer_email", PiiKind.Email)]
    [InlineData("firstName", PiiKind.Name)]
    [InlineData("last-name", PiiKind.Name)]
    [InlineData("mobilePhone", PiiKind.Phone)]
    [InlineData("cardNumber", PiiKind.CardNumber)]
    [InlineData("status", PiiKind.None)]
    [InlineData("username", PiiKind.None)]
    [InlineData("credit_card", PiiKind.CardNumber)]
    [InlineData("cardNo", PiiKind.CardNumber)]
    [InlineData("discarded", PiiKind.None)] // contains "card", is not one
    [InlineData("cardinality", PiiKind.None)]
    [InlineData("scorecard", PiiKind.None)]
    [InlineData("mobileNumber", PiiKind.Phone)] // no separator in the name, none needed in the value
    [InlineData("telNo", PiiKind.Phone)]
    [InlineData("contactNumber", PiiKind.Phone)]
    [InlineData("cell_number", PiiKind.Phone)]
    [InlineData("msisdn", PiiKind.Phone)]
    [InlineData("cellId", PiiKind.None)]
    [InlineData("contact", PiiKind.None)] // may hold anything: judged by its values
    [InlineData("orderNumber", PiiKind.None)]
    [InlineData("recipientName", PiiKind.Name)]
    [InlineData("shipping_name", PiiKind.Name)]
    [InlineData("names", PiiKind.Name)]
    [InlineData("productName", PiiKind.None)]
    [InlineData("shippingMethodName", PiiKind.None)] // a role's prefix, not a person's name
    [InlineData("customerGroupName", PiiKind.None)]
    [InlineData("customerFirstName", PiiKind.Name)]
    [InlineData("mobileAppVersion", PiiKind.None)]
    [InlineData("automobileMake", PiiKind.None)]
    [InlineData("homeMobile", PiiKind.Phone)]
    [InlineData("contactNumbers", PiiKind.Phone)] // plural
    [InlineData("faxNumbers", PiiKind.Phone)]
    [InlineData("trackingNumber", PiiKind.None)]
    [InlineData("ticketNo", PiiKind.None)]
    [InlineData("hostName", PiiKind.None)]
    public void ByName(string field, PiiKind expected) => Assert.Equal(expected, PiiDetector.ByName(field));

    [Theory]
    [InlineData("ana.lopez@mail.example.org", PiiKind.Email)]
    [InlineData("+44 20 7946 0958", PiiKind.Phone)]
    [InlineData("(212) 555-0147", PiiKind.Phone)]
    [InlineData("4111 1111 1111 1111", PiiKind.CardNumber)]
    [InlineData("5500-0000-0000-0004", PiiKind.CardNumber)]
    [InlineData("4111 1111 1111 1112", PiiKind.None)] // fails the Luhn check
    [InlineData("1234567", PiiKind.None)] // a plain number is an id, not a phone
    [InlineData("order-0001234", PiiKind.None)]
    [InlineData("2026-12-02T12:00:00Z", PiiKind.None)]
    [InlineData("2026-12-02", PiiKind.None)] // an ISO date has digits and dashes, is not a phone number
    [InlineData("192.168.100.10", PiiKind.None)] // an IPv4 address
    [InlineData("12345.6789", PiiKind.None)] // a decimal
    [InlineData("-1234.56789", PiiKind.None)]
    [InlineData("212.555.0147", PiiKind.Phone)] // dots as separators, three groups
    public void ByValue(string value, PiiKind expected) => Assert.Equal(expected, PiiDetector.ByValue(value));
}
