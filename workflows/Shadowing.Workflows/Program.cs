using Microsoft.Extensions.Hosting;
using Shadowing.Workflows;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddShadowingWorkflows();
await builder.Build().RunAsync();
