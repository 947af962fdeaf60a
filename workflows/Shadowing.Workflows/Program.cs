using Shadowing.Hosting;
using Shadowing.Workflows;

MallocArenas.Apply(restart: true);

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddShadowingWorkflows(builder.Configuration);
var app = builder.Build();
app.MapShadowingWorkflows();
await app.RunAsync();
