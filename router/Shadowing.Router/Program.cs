using Shadowing.Router.Hosting;
using Shadowing.Router.Routing;

try
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddShadowingRouter();
    var app = builder.Build();
    app.MapShadowingRouter();
    await app.RunAsync();
    return 0;
}
catch (RoutesFileException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 2;
}
