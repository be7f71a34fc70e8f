# The scope's many-to-manys get explicit link models on the tables Django made for them, so the
# link's foreign key to a team or system can PROTECT it: state only, the tables do not change.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0001_initial'),
        ('inventory', '0003_health'),
    ]

    state_operations = [
        migrations.CreateModel(
            name='AccessScopeSystem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('accessscope', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='access.accessscope')),
                ('system', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='inventory.system')),
            ],
            options={
                'verbose_name': "system limiting a person's access",
                'db_table': 'access_accessscope_systems',
                'unique_together': {('accessscope', 'system')},
            },
        ),
        migrations.AlterField(
            model_name='accessscope',
            name='systems',
            field=models.ManyToManyField(blank=True, related_name='+', through='access.AccessScopeSystem', to='inventory.system'),
        ),
        migrations.CreateModel(
            name='AccessScopeTeam',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('accessscope', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='access.accessscope')),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='inventory.team')),
            ],
            options={
                'verbose_name': "team limiting a person's access",
                'db_table': 'access_accessscope_teams',
                'unique_together': {('accessscope', 'team')},
            },
        ),
        migrations.AlterField(
            model_name='accessscope',
            name='teams',
            field=models.ManyToManyField(blank=True, related_name='+', through='access.AccessScopeTeam', to='inventory.team'),
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
